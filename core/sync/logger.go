package sync

// Logger receives the sync client's diagnostics. A *slog.Logger is one.
//
// It is an interface, not *slog.Logger, so that the browser build does not
// link log/slog (and the time formatting it brings) for logs that go nowhere
// by default: the client core ships as one WebAssembly download, read and
// compiled on every page load.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// discard is the Logger used when none is given.
type discard struct{}

func (discard) Debug(string, ...any) {}
func (discard) Info(string, ...any)  {}
func (discard) Warn(string, ...any)  {}
func (discard) Error(string, ...any) {}

// Discard is a Logger that drops everything.
var Discard Logger = discard{}

// tagged adds key/value attributes to every message, as slog's With does.
type tagged struct {
	l     Logger
	attrs []any
}

// With returns l adding attrs to every message.
func With(l Logger, attrs ...any) Logger {
	if _, ok := l.(discard); ok {
		return l
	}
	return tagged{l, attrs}
}

func (t tagged) with(args []any) []any {
	return append(append(make([]any, 0, len(t.attrs)+len(args)), t.attrs...), args...)
}

func (t tagged) Debug(msg string, args ...any) { t.l.Debug(msg, t.with(args)...) }
func (t tagged) Info(msg string, args ...any)  { t.l.Info(msg, t.with(args)...) }
func (t tagged) Warn(msg string, args ...any)  { t.l.Warn(msg, t.with(args)...) }
func (t tagged) Error(msg string, args ...any) { t.l.Error(msg, t.with(args)...) }
