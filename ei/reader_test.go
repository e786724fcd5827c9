package ei

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReaderCopyVet checks that go vet reports a copy of a Reader, which
// would build its terms in the memory of those the original returned.
func TestReaderCopyVet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goBin, "vet", "./testdata/readercopy").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "copies lock value") {
		t.Errorf("go vet ./testdata/readercopy = %v, %s; want a report of the copy", err, out)
	}
}
