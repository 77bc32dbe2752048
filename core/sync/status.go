package sync

// Status is the client's connection state as the application sees it; see
// the package documentation for what each means.
type Status int32

const (
	Offline Status = iota
	Connecting
	Connected
	Paused
	Closed
)

func (s Status) String() string {
	switch s {
	case Offline:
		return "offline"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Paused:
		return "paused"
	case Closed:
		return "closed"
	}
	return "unknown"
}
