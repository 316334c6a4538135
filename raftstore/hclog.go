package raftstore

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// slogHclog adapts a *slog.Logger to the hclog.Logger that hashicorp/raft
// wants, so raft logs go where the rest of Skiff's go.
type slogHclog struct {
	l    *slog.Logger
	name string
	args []any
}

func newHclog(l *slog.Logger) hclog.Logger { return &slogHclog{l: l} }

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *slogHclog) Log(level hclog.Level, msg string, args ...any) {
	for i, a := range args {
		// hclog.Fmt defers formatting to the logger.
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				args[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	h.l.Log(context.Background(), toSlogLevel(level), msg, args...)
}
func (h *slogHclog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHclog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHclog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHclog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHclog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *slogHclog) IsTrace() bool                 { return false }
func (h *slogHclog) IsDebug() bool {
	return h.l.Enabled(context.Background(), slog.LevelDebug)
}
func (h *slogHclog) IsInfo() bool  { return h.l.Enabled(context.Background(), slog.LevelInfo) }
func (h *slogHclog) IsWarn() bool  { return h.l.Enabled(context.Background(), slog.LevelWarn) }
func (h *slogHclog) IsError() bool { return h.l.Enabled(context.Background(), slog.LevelError) }
func (h *slogHclog) ImpliedArgs() []any {
	return h.args
}
func (h *slogHclog) With(args ...any) hclog.Logger {
	return &slogHclog{l: h.l.With(args...), name: h.name, args: append(append([]any(nil), h.args...), args...)}
}
func (h *slogHclog) Name() string { return h.name }
func (h *slogHclog) Named(name string) hclog.Logger {
	n := name
	if h.name != "" {
		n = h.name + "." + name
	}
	return &slogHclog{l: h.l.With("logger", n), name: n, args: h.args}
}
func (h *slogHclog) ResetNamed(name string) hclog.Logger {
	return &slogHclog{l: h.l.With("logger", name), name: name, args: h.args}
}
func (h *slogHclog) SetLevel(hclog.Level) {}
func (h *slogHclog) GetLevel() hclog.Level {
	if h.IsDebug() {
		return hclog.Debug
	}
	return hclog.Info
}
func (h *slogHclog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo)
}
func (h *slogHclog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}

// NewHclog adapts a slog logger for hashicorp libraries (raft's transport).
func NewHclog(l *slog.Logger) hclog.Logger { return newHclog(l) }
