package ei

import "fmt"

// ProtocolError reports bytes that do not form valid External Term Format
// (or, for other parts of the package, a valid protocol message).
// Offset is the position of the offending byte in the input.
type ProtocolError struct {
	Offset int
	Msg    string // starts with "ei: "
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("%s (at offset %d)", e.Msg, e.Offset)
}
