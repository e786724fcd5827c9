// Package readercopy copies an ei.Reader, which go vet must report
// (TestReaderCopyVet).
package readercopy

import "github.com/goei/goei/ei"

func Copy(r *ei.Reader) int {
	c := *r
	return c.Len()
}
