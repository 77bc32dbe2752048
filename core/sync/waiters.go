package sync

// maxRejections bounds the memory of recent rejections kept for WaitFor.
const maxRejections = 1024

// WaitFor returns a channel that receives exactly one value for the local
// change changeID (or batch: changeID may be a batch's id): nil once the server acknowledged it, the rejection (a
// *protocol.RemoteError, which unwraps to the typed error) once it was
// rolled back, or ErrClosed if the client closes first. The channel is
// buffered, so nobody has to read it.
//
// A change that is no longer pending when WaitFor is called was already
// settled: the channel receives its rejection if it is among the last 1024
// rejections, nil otherwise (which is also the answer for an id this DB
// never had). It costs a scan of the DB's pending changes.
func (c *Client) WaitFor(changeID string) <-chan error {
	ch := make(chan error, 1)
	c.mu.Lock()
	if c.doneWait {
		c.mu.Unlock()
		ch <- ErrClosed
		return ch
	}
	if err, ok := c.rejected[changeID]; ok {
		c.mu.Unlock()
		ch <- err
		return ch
	}
	// Register before looking at the DB, so a settlement that happens in
	// between finds the waiter.
	c.waiters[changeID] = append(c.waiters[changeID], ch)
	c.mu.Unlock()
	if c.pendingWrite(changeID) {
		return ch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rejecting[changeID] {
		// Being rolled back this instant: rejectChange answers the waiter.
		return ch
	}
	if c.removeWaiterLocked(changeID, ch) {
		if err, ok := c.rejected[changeID]; ok {
			ch <- err
		} else {
			ch <- nil
		}
	}
	return ch
}

func (c *Client) removeWaiterLocked(id string, ch chan error) bool {
	ws := c.waiters[id]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i:i], ws[i+1:]...)
			if len(ws) == 0 {
				delete(c.waiters, id)
			} else {
				c.waiters[id] = ws
			}
			return true
		}
	}
	return false
}

// settle answers the waiters of an acknowledged change.
func (c *Client) settle(id string, err error) {
	c.mu.Lock()
	ws := c.waiters[id]
	delete(c.waiters, id)
	c.mu.Unlock()
	for _, w := range ws {
		w <- err
	}
}

func (c *Client) rememberRejection(id string, err error) {
	if _, ok := c.rejected[id]; !ok {
		c.rejOrder = append(c.rejOrder, id)
	}
	c.rejected[id] = err
	for len(c.rejOrder) > maxRejections {
		delete(c.rejected, c.rejOrder[0])
		c.rejOrder = c.rejOrder[1:]
	}
}

// failWaiters answers every waiter with ErrClosed.
func (c *Client) failWaiters() {
	c.mu.Lock()
	all := c.waiters
	c.waiters = map[string][]chan error{}
	c.doneWait = true
	c.mu.Unlock()
	for _, ws := range all {
		for _, w := range ws {
			w <- ErrClosed
		}
	}
}
