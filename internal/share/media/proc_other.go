//go:build !unix

package media

import "os/exec"

// ownProcessGroup: without process groups, cancellation kills the process
// itself (exec.CommandContext's default).
func ownProcessGroup(cmd *exec.Cmd) {}
