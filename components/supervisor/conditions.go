package supervisor

import (
	"net"
	"os"
	"time"
)

// check reports whether the condition holds now.
func (c Condition) check() bool {
	switch {
	case c.Socket != "":
		return dialable("unix", c.Socket)
	case c.File != "":
		_, err := os.Stat(c.File)
		return err == nil
	default:
		return dialable("tcp", c.TCP)
	}
}

func dialable(network, addr string) bool {
	conn, err := net.DialTimeout(network, addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// firstUnmet returns the first condition that does not hold, if any.
func firstUnmet(conds []Condition) (Condition, bool) {
	for _, c := range conds {
		if !c.check() {
			return c, true
		}
	}
	return Condition{}, false
}
