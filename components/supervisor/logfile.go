package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// LogFile is a program's log: appended to by its output, rotated by size
// (name.log -> name.log.1 -> ... -> name.log.<backups>), and followed by
// readers that are told when it grows.
type LogFile struct {
	path     string
	maxBytes int64
	backups  int

	mu      sync.Mutex
	f       *os.File
	size    int64
	waiters map[chan struct{}]struct{}
}

// OpenLogFile opens (creating it and its directory) the log at path.
func OpenLogFile(path string, maxBytes int64, backups int) (*LogFile, error) {
	l := &LogFile{path: path, maxBytes: maxBytes, backups: backups, waiters: map[chan struct{}]struct{}{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LogFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Path is the current log file.
func (l *LogFile) Path() string { return l.path }

// Write appends p, rotating first when p would take the file past its
// maximum size.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if l.maxBytes > 0 && l.size > 0 && l.size+int64(len(p)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	for w := range l.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (l *LogFile) rotate() error {
	l.f.Close()
	l.f = nil
	if l.backups == 0 {
		if err := os.Truncate(l.path, 0); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
		return l.open()
	}
	for i := l.backups - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return l.open()
}

// Close closes the file; later writes fail.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Tail writes the last n bytes of the current file to w (n <= 0: all).
func (l *LogFile) Tail(w io.Writer, n int64) (offset int64, err error) {
	f, err := os.Open(l.path)
	if err != nil {
		return 0, fmt.Errorf("tail log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("tail log: %w", err)
	}
	start := int64(0)
	if n > 0 && st.Size() > n {
		start = st.Size() - n
	}
	copied, err := io.Copy(w, io.NewSectionReader(f, start, st.Size()-start))
	if err != nil {
		return 0, fmt.Errorf("tail log: %w", err)
	}
	return start + copied, nil
}

// Follow writes the last n bytes (n <= 0: all) to w and then everything
// written to the log, across rotations, until done is closed or writing
// to w fails. flush, if not nil, is called after each chunk.
func (l *LogFile) Follow(done <-chan struct{}, w io.Writer, n int64, flush func()) error {
	wake := make(chan struct{}, 1)
	l.mu.Lock()
	l.waiters[wake] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiters, wake)
		l.mu.Unlock()
	}()

	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("follow log: %w", err)
	}
	defer func() { f.Close() }()
	if st, err := f.Stat(); err == nil && n > 0 && st.Size() > n {
		if _, err := f.Seek(st.Size()-n, io.SeekStart); err != nil {
			return fmt.Errorf("follow log: %w", err)
		}
	}
	for {
		// Read what is there; once at the end of a file that has been
		// rotated away, go on with the new one.
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("follow log: %w", err)
		}
		if flush != nil {
			flush()
		}
		if cur, err := os.Stat(l.path); err == nil {
			if old, err := f.Stat(); err == nil && !os.SameFile(cur, old) {
				nf, err := os.Open(l.path)
				if err != nil {
					return fmt.Errorf("follow log: %w", err)
				}
				f.Close()
				f = nf
				continue
			}
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil && cur.Size() < pos {
				// Truncated in place (no backups): start over.
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return fmt.Errorf("follow log: %w", err)
				}
				continue
			}
		}
		select {
		case <-done:
			return nil
		case <-wake:
		}
	}
}
