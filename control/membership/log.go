package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newLogLogger adapts l to the *log.Logger that Serf and memberlist take.
// Their lines start with a level in brackets ("[WARN] memberlist: ..."),
// which is mapped to the slog level and stripped from the message.
func newLogLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{l: l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

var levelPrefixes = []struct {
	prefix []byte
	level  slog.Level
}{
	{[]byte("[TRACE]"), slog.LevelDebug - 4},
	{[]byte("[DEBUG]"), slog.LevelDebug},
	{[]byte("[INFO]"), slog.LevelInfo},
	{[]byte("[WARN]"), slog.LevelWarn},
	{[]byte("[ERR]"), slog.LevelError},
	{[]byte("[ERROR]"), slog.LevelError},
}

func (w levelWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lp := range levelPrefixes {
		if bytes.HasPrefix(msg, lp.prefix) {
			level = lp.level
			msg = bytes.TrimSpace(msg[len(lp.prefix):])
			break
		}
	}
	ctx := context.Background()
	if w.l.Enabled(ctx, level) {
		w.l.Log(ctx, level, string(msg))
	}
	return len(p), nil
}
