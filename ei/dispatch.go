package ei

// deliver routes a message read from cs's connection, on the connection's
// read goroutine: messages go to mailbox queues, signals update links and
// monitors. Messages to processes that do not exist are dropped, as erl
// does; links and monitors on them are answered with noproc.
func (cs *connState) deliver(c *Conn, m Message) {
	l := cs.l
	switch ctl := m.Control.(type) {
	case SendSender:
		l.deliverPid(ctl.To, m.Payload)
	case Send:
		l.deliverPid(ctl.To, m.Payload)
	case RegSend:
		l.deliverName(ctl.To, m.Payload)
	case AliasSend:
		l.deliverAlias(ctl.Alias, m.Payload)
	case SendSenderTT:
		l.deliverPid(ctl.To, m.Payload)
	case SendTT:
		l.deliverPid(ctl.To, m.Payload)
	case RegSendTT:
		l.deliverName(ctl.To, m.Payload)
	case AliasSendTT:
		l.deliverAlias(ctl.Alias, m.Payload)

	case Link:
		cs.linked(ctl.From, ctl.To)
	case UnlinkID:
		cs.unlinked(ctl.From, ctl.To)
	case Unlink:
		cs.unlinked(ctl.From, ctl.To)
	case UnlinkIDAck:
		cs.unlinkAcked(ctl.ID, ctl.From, ctl.To)
	case Exit:
		cs.exited(ctl.From, ctl.To, ctl.Reason, true)
	case ExitTT:
		cs.exited(ctl.From, ctl.To, ctl.Reason, true)
	case PayloadExit:
		cs.exited(ctl.From, ctl.To, m.Payload, true)
	case PayloadExitTT:
		cs.exited(ctl.From, ctl.To, m.Payload, true)
	case Exit2:
		cs.exited(ctl.From, ctl.To, ctl.Reason, false)
	case Exit2TT:
		cs.exited(ctl.From, ctl.To, ctl.Reason, false)
	case PayloadExit2:
		cs.exited(ctl.From, ctl.To, m.Payload, false)
	case PayloadExit2TT:
		cs.exited(ctl.From, ctl.To, m.Payload, false)

	case MonitorP:
		cs.monitored(ctl.From, ctl.To, ctl.Ref)
	case DemonitorP:
		cs.demonitored(ctl.Ref)
	case MonitorPExit:
		if !cs.erpcDown(ctl.Ref, ctl.Reason) {
			cs.monitorExit(ctl.Ref, ctl.Reason)
		}
	case PayloadMonitorPExit:
		if !cs.erpcDown(ctl.Ref, m.Payload) {
			cs.monitorExit(ctl.Ref, m.Payload)
		}

	case SpawnRequest:
		cs.spawned(ctl, m.Payload)
	case SpawnRequestTT:
		cs.spawned(ctl.SpawnRequest, m.Payload)
	case SpawnReply:
		cs.spawnReplied(ctl)
	case SpawnReplyTT:
		cs.spawnReplied(ctl.SpawnReply)
	}
	// Others (GROUP_LEADER, unknown controls) mean nothing to a mailbox.
}
