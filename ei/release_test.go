package ei

import (
	"context"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// TestReceiveReuse checks that ReceiveReuse has a large message read into
// the memory of the one it returned before, fragmented or not, and that a
// message Receive returns keeps its memory.
func TestReceiveReuse(t *testing.T) {
	for _, fs := range testFlagSets {
		t.Run(fs.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := connPair(t, fs.flags, time.Hour)
				to := mustPid(t, b.Node())
				var msgs []Term
				for i := range 5 {
					msgs = append(msgs, pattern(300_000, byte(i)))
				}
				go func() {
					for _, m := range msgs {
						// Send once the receiver waits, done with the
						// message before.
						synctest.Wait()
						if err := a.Send(context.Background(), to, m); err != nil {
							t.Errorf("Send() = %v", err)
							return
						}
					}
				}()
				var got []Binary
				for i := range msgs {
					receive := b.ReceiveReuse
					if i == 2 {
						receive = b.Receive
					}
					m, err := receive(context.Background())
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if !reflect.DeepEqual(m.Payload, msgs[i]) {
						t.Fatalf("message %d = %.40v, want %.40v", i, m.Payload, msgs[i])
					}
					got = append(got, m.Payload.(Binary))
				}
				same := func(i, j int) bool { return &got[i][0] == &got[j][0] }
				if !same(0, 1) {
					t.Errorf("message 1 was not read into the memory of message 0")
				}
				if same(1, 2) {
					t.Errorf("message 2, from Receive, was read into the memory of message 1")
				}
				if !same(1, 3) || !same(3, 4) {
					t.Errorf("messages 3 and 4 were not read into the memory of message 1")
				}
				if !reflect.DeepEqual(got[2], msgs[2]) {
					t.Errorf("message 2, from Receive, changed to %.40v", got[2])
				}
			})
		})
	}
}
