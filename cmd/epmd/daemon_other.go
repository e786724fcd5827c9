//go:build !unix

package main

import "errors"

// daemonize is not available here: -daemon needs Unix sessions.
func daemonize(args []string) (started bool, err error) {
	return false, errors.New("-daemon is not supported on this system")
}
