package ei

import (
	"reflect"
	"testing"
)

// TestControlTuples checks each control message against the tuple the
// spec gives for it, in both directions.
func TestControlTuples(t *testing.T) {
	a := Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}
	b := Pid{Node: "b@h", ID: 4, Serial: 5, Creation: 6}
	r := Ref{Node: "b@h", Creation: 6, ID: []uint32{7, 8, 9}}
	tok := Atom("token")
	tests := []struct {
		ctl   Control
		tuple Tuple
	}{
		{Link{From: a, To: b}, Tuple{int64(1), a, b}},                                // LINK
		{Send{To: b}, Tuple{int64(2), Atom(""), b}},                                  // SEND, unused cookie ''
		{Exit{From: a, To: b, Reason: Atom("r")}, Tuple{int64(3), a, b, Atom("r")}},  // EXIT
		{Unlink{From: a, To: b}, Tuple{int64(4), a, b}},                              // UNLINK
		{RegSend{From: a, To: "n"}, Tuple{int64(6), a, Atom(""), Atom("n")}},         // REG_SEND
		{GroupLeader{From: a, To: b}, Tuple{int64(7), a, b}},                         // GROUP_LEADER
		{Exit2{From: a, To: b, Reason: Atom("r")}, Tuple{int64(8), a, b, Atom("r")}}, // EXIT2
		{SendTT{To: b, TraceToken: tok}, Tuple{int64(12), Atom(""), b, tok}},         // SEND_TT
		{ExitTT{From: a, To: b, TraceToken: tok, Reason: Atom("r")}, Tuple{int64(13), a, b, tok, Atom("r")}},
		{RegSendTT{From: a, To: "n", TraceToken: tok}, Tuple{int64(16), a, Atom(""), Atom("n"), tok}},
		{Exit2TT{From: a, To: b, TraceToken: tok, Reason: Atom("r")}, Tuple{int64(18), a, b, tok, Atom("r")}},
		{MonitorP{From: a, To: b, Ref: r}, Tuple{int64(19), a, b, r}},                 // MONITOR_P
		{MonitorP{From: a, To: Atom("n"), Ref: r}, Tuple{int64(19), a, Atom("n"), r}}, // MONITOR_P by name
		{DemonitorP{From: a, To: b, Ref: r}, Tuple{int64(20), a, b, r}},               // DEMONITOR_P
		{MonitorPExit{From: b, To: a, Ref: r, Reason: Atom("r")}, Tuple{int64(21), b, a, r, Atom("r")}},
		{SendSender{From: a, To: b}, Tuple{int64(22), a, b}},                           // SEND_SENDER
		{SendSenderTT{From: a, To: b, TraceToken: tok}, Tuple{int64(23), a, b, tok}},   // SEND_SENDER_TT
		{PayloadExit{From: a, To: b}, Tuple{int64(24), a, b}},                          // PAYLOAD_EXIT
		{PayloadExitTT{From: a, To: b, TraceToken: tok}, Tuple{int64(25), a, b, tok}},  // PAYLOAD_EXIT_TT
		{PayloadExit2{From: a, To: b}, Tuple{int64(26), a, b}},                         // PAYLOAD_EXIT2
		{PayloadExit2TT{From: a, To: b, TraceToken: tok}, Tuple{int64(27), a, b, tok}}, // PAYLOAD_EXIT2_TT
		{PayloadMonitorPExit{From: Atom("n"), To: a, Ref: r}, Tuple{int64(28), Atom("n"), a, r}},
		{AliasSend{From: a, Alias: r}, Tuple{int64(33), a, r}},                          // ALIAS_SEND
		{AliasSendTT{From: a, Alias: r, TraceToken: tok}, Tuple{int64(34), a, r, tok}},  // ALIAS_SEND_TT
		{UnlinkID{ID: 1 << 60, From: a, To: b}, Tuple{int64(35), int64(1 << 60), a, b}}, // UNLINK_ID
		{UnlinkIDAck{ID: 5, From: a, To: b}, Tuple{int64(36), int64(5), a, b}},          // UNLINK_ID_ACK
		{SpawnRequest{ReqID: r, From: a, GroupLeader: b, Module: "m", Function: "f", Arity: 2, Opts: List{Atom("monitor")}},
			Tuple{int64(29), r, a, b, Tuple{Atom("m"), Atom("f"), int64(2)}, List{Atom("monitor")}}}, // SPAWN_REQUEST
		{SpawnRequest{ReqID: r, From: a, GroupLeader: b, Module: "m", Function: "f", Opts: List{}},
			Tuple{int64(29), r, a, b, Tuple{Atom("m"), Atom("f"), int64(0)}, List{}}}, // no options: []
		{SpawnRequestTT{SpawnRequest: SpawnRequest{ReqID: r, From: a, GroupLeader: b, Module: "m", Function: "f", Arity: 255, Opts: List{}}, TraceToken: tok},
			Tuple{int64(30), r, a, b, Tuple{Atom("m"), Atom("f"), int64(255)}, List{}, tok}}, // SPAWN_REQUEST_TT
		{SpawnReply{ReqID: r, To: a, Flags: 3, Result: b}, Tuple{int64(31), r, a, int64(3), b}},                             // SPAWN_REPLY, linked and monitored
		{SpawnReply{ReqID: r, To: a, Result: Atom("system_limit")}, Tuple{int64(31), r, a, int64(0), Atom("system_limit")}}, // failed
		{SpawnReplyTT{SpawnReply: SpawnReply{ReqID: r, To: a, Flags: 2, Result: b}, TraceToken: tok},
			Tuple{int64(32), r, a, int64(2), b, tok}}, // SPAWN_REPLY_TT
		{UnknownControl{Tuple: Tuple{int64(29), Atom("x")}}, Tuple{int64(29), Atom("x")}}, // SPAWN_REQUEST of the wrong arity
		{UnknownControl{Tuple: Tuple{int64(1), a}}, Tuple{int64(1), a}},                   // LINK of the wrong arity
	}
	for _, tt := range tests {
		got, err := tt.ctl.appendControl(nil)
		if err != nil {
			t.Errorf("appendControl(%#v) = %v", tt.ctl, err)
			continue
		}
		want, err := AppendTerm(nil, tt.tuple)
		if err != nil {
			t.Fatalf("AppendTerm(%v) = %v", tt.tuple, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("appendControl(%#v) = %x, want %x", tt.ctl, got, want)
		}
		ctl, err := readControl(NewReader(want))
		if err != nil || !reflect.DeepEqual(ctl, tt.ctl) {
			t.Errorf("readControl(%x) = %#v, %v; want %#v", want, ctl, err, tt.ctl)
		}
	}
}

// TestReadControlErrors checks malformed control tuples.
func TestReadControlErrors(t *testing.T) {
	a := Pid{Node: "a@h", ID: 1}
	r := Ref{Node: "a@h", ID: []uint32{1, 2, 3}}
	for _, tuple := range []Term{
		Atom("link"),                             // not a tuple
		Tuple{},                                  // no operation
		Tuple{Atom("link"), a, a},                // operation not an integer
		Tuple{int64(1), a, Atom("x")},            // LINK to a non-pid
		Tuple{int64(6), a, Atom(""), int64(1)},   // REG_SEND to a non-atom
		Tuple{int64(19), a, int64(1), Atom("r")}, // MONITOR_P of a number
		Tuple{int64(35), int64(-1), a, a},        // UNLINK_ID with a negative id
		Tuple{int64(29), r, a, a, Tuple{Atom("m"), Atom("f")}, List{}},              // SPAWN_REQUEST, MFA of two elements
		Tuple{int64(29), r, a, a, Tuple{Atom("m"), Atom("f"), int64(256)}, List{}},  // arity out of range
		Tuple{int64(29), r, a, a, Tuple{Atom("m"), Atom("f"), int64(-1)}, List{}},   // negative arity
		Tuple{int64(29), r, a, a, Tuple{Atom("m"), int64(1), int64(0)}, List{}},     // function not an atom
		Tuple{int64(29), r, a, a, Tuple{Atom("m"), Atom("f"), int64(0)}, Atom("x")}, // options not a list
		Tuple{int64(29), r, a, a, Tuple{Atom("m"), Atom("f"), int64(0)}, ImproperList{Elems: []Term{Atom("link")}, Tail: Atom("x")}},
		Tuple{int64(31), r, a, int64(0), int64(1)}, // SPAWN_REPLY with a number for result
		Tuple{int64(31), r, a, int64(-1), a},       // negative flags
		Tuple{int64(31), a, a, int64(0), a},        // request id not a ref
	} {
		b, err := AppendTerm(nil, tuple)
		if err != nil {
			t.Fatal(err)
		}
		if ctl, err := readControl(NewReader(b)); err == nil {
			t.Errorf("readControl(%v) = %#v, want an error", tuple, ctl)
		}
	}
}

func TestMessageTo(t *testing.T) {
	a := Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}
	b := Pid{Node: "b@h", ID: 4, Serial: 5, Creation: 6}
	r := Ref{Node: "b@h", Creation: 6, ID: []uint32{7, 8, 9}}
	tok := Atom("token")
	tests := []struct {
		ctl  Control
		want Term
	}{
		{Send{To: b}, b},
		{SendSender{From: a, To: b}, b},
		{SendTT{To: b, TraceToken: tok}, b},
		{SendSenderTT{From: a, To: b, TraceToken: tok}, b},
		{RegSend{From: a, To: "n"}, Atom("n")},
		{RegSendTT{From: a, To: "n", TraceToken: tok}, Atom("n")},
		{AliasSend{From: a, Alias: r}, r},
		{AliasSendTT{From: a, Alias: r, TraceToken: tok}, r},
		{Link{From: a, To: b}, nil},                    // carries no message
		{Exit{From: a, To: b, Reason: Atom("r")}, nil}, // nor does an exit signal
		{PayloadExit{From: a, To: b}, nil},             // whose payload is a reason
		{UnknownControl{Tuple: Tuple{int64(29)}}, nil}, // nor an unknown control
		{nil, nil}, // the zero Message
	}
	for _, tt := range tests {
		m := Message{Control: tt.ctl, Payload: Atom("hi")}
		if got := m.To(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Message{%#v}.To() = %#v, want %#v", tt.ctl, got, tt.want)
		}
	}
}
