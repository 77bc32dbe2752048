package sync

import "time"

// backoffDelay is the delay before reconnect attempt number attempt (0 for
// the first retry after a failure): uniform in [0, min(hi, lo*2^attempt)),
// "full jitter". Randomizing the whole interval rather than adding a little
// noise spreads the reconnects of many clients that lost the same server at
// the same moment, so they do not return as one thundering herd.
// r is a random number in [0, 1).
func backoffDelay(attempt int, lo, hi time.Duration, r float64) time.Duration {
	ceil := lo
	for i := 0; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	if ceil > hi {
		ceil = hi
	}
	if r < 0 || r != r {
		r = 0
	}
	if r >= 1 {
		r = 0.999999
	}
	return time.Duration(r * float64(ceil))
}
