package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/session"
)

// MaxJWKSSize bounds the JWKS document; real sets are a few KiB, so anything
// near this is a misconfigured or hostile endpoint.
const MaxJWKSSize = 1 << 20

// JWKS verifies external JWTs against a key set fetched from an identity
// provider's JWKS URL.
//
// The cache policy exists to keep two promises at once: the provider is never
// flooded because of what clients send (fetches are coalesced, and those
// triggered by unknown kids or by failures are rate limited), and a provider
// outage does not log everyone out (cached keys keep serving for StaleFor).
// A single verification waits for at most one fetch.
type JWKS struct {
	url  string
	opts Options

	mu          sync.Mutex
	keys        *keySet   // last good set; nil until the first successful fetch
	fetchedAt   time.Time // when keys was fetched
	lastAttempt time.Time // start of the latest fetch, successful or not
	lastErr     error     // outcome of the latest fetch, for logging only
	inflight    *fetchCall
}

// fetchCall is one in-flight fetch that any number of verifications share.
type fetchCall struct {
	done chan struct{}
}

// keySet indexes keys by kid.
type keySet struct {
	byKid map[string][]*verifyKey
	all   []*verifyKey
}

func newKeySet(keys []*verifyKey) *keySet {
	s := &keySet{byKid: map[string][]*verifyKey{}, all: keys}
	for _, k := range keys {
		if k.kid != "" {
			s.byKid[k.kid] = append(s.byKid[k.kid], k)
		}
	}
	return s
}

// lookup finds the key for a token header. A token without a kid may only use
// the set's single key: with several keys, guessing would turn a rotated-out
// key back on.
func (s *keySet) lookup(th tokenHeader) (k *verifyKey, unknownKid bool) {
	if !th.HasKid {
		if len(s.all) == 1 {
			return s.all[0], false
		}
		return nil, false
	}
	cands := s.byKid[th.Kid]
	for _, c := range cands {
		if c.allows(th.Alg) {
			return c, false
		}
	}
	if len(cands) > 0 {
		return cands[0], false // wrong alg for a known key: refused by verifyWith
	}
	return nil, th.Kid != ""
}

// NewJWKS returns a verifier for the key set at url. Nothing is fetched until
// the first verification, so a provider that is down at startup does not stop
// the server from starting.
func NewJWKS(url string, opts Options) *JWKS {
	return &JWKS{url: url, opts: opts.withDefaults()}
}

// Verify implements Verifier.
func (j *JWKS) Verify(ctx context.Context, token string) (*session.Session, error) {
	sess, _, err := j.VerifyWithExpiry(ctx, token)
	return sess, err
}

// VerifyWithExpiry implements ExpiryVerifier.
func (j *JWKS) VerifyWithExpiry(ctx context.Context, token string) (*session.Session, time.Time, error) {
	th, e := peekHeader(token)
	if e != nil {
		return nil, time.Time{}, e
	}
	keys, waited, e := j.currentKeys(ctx)
	if e != nil {
		return nil, time.Time{}, e
	}
	k, unknown := keys.lookup(th)
	if k == nil && unknown {
		if waited {
			// The set is as fresh as it gets; a second fetch would break the
			// promise that one verification waits for at most one fetch.
			return nil, time.Time{}, fail(CodeInvalid, "token signed with an unknown key id")
		}
		if keys, e = j.refetchForUnknownKid(ctx); e != nil {
			return nil, time.Time{}, e
		}
		k, _ = keys.lookup(th)
		if k == nil {
			return nil, time.Time{}, fail(CodeInvalid, "token signed with an unknown key id")
		}
	}
	if k == nil {
		if th.HasKid {
			return nil, time.Time{}, fail(CodeInvalid, "token kid must be a non-empty string")
		}
		return nil, time.Time{}, fail(CodeInvalid, "token has no kid and the key set has several keys")
	}
	return verifyWith(k, th, token)
}

// unavailable is returned once no trustworthy keys are left: never fetched,
// or past StaleFor with the endpoint still failing.
func unavailable() *Error {
	return fail(CodeInvalid, "JWKS unavailable: the identity provider's keys could not be fetched")
}

// currentKeys returns usable keys, fetching inline when there are none (or
// they are past StaleFor) and kicking off a background refresh when they are
// merely old. waited reports whether this call sat through a fetch.
func (j *JWKS) currentKeys(ctx context.Context) (keys *keySet, waited bool, e *Error) {
	j.mu.Lock()
	now := j.opts.Clock.Now()
	if j.keys != nil && now.Sub(j.fetchedAt) <= j.opts.StaleFor {
		if now.Sub(j.fetchedAt) >= j.opts.RefreshInterval && j.inflight == nil && j.mayRetry(now) {
			j.startFetch(now)
		}
		keys := j.keys
		j.mu.Unlock()
		return keys, false, nil
	}
	call := j.inflight
	if call == nil {
		if !j.mayRetry(now) {
			j.mu.Unlock()
			return nil, false, unavailable()
		}
		call = j.startFetch(now)
	}
	j.mu.Unlock()
	if err := wait(ctx, call); err != nil {
		return nil, true, err
	}
	keys, e = j.usableKeys()
	return keys, true, e
}

// usableKeys returns the cached set unless it is missing or past StaleFor.
func (j *JWKS) usableKeys() (*keySet, *Error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.keys == nil || j.opts.Clock.Now().Sub(j.fetchedAt) > j.opts.StaleFor {
		return nil, unavailable()
	}
	return j.keys, nil
}

// refetchForUnknownKid fetches once more in the hope that the provider has
// rotated in a new key. It joins a fetch already in flight, and otherwise
// fetches only if the last fetch is at least MinRefetchInterval old.
func (j *JWKS) refetchForUnknownKid(ctx context.Context) (*keySet, *Error) {
	j.mu.Lock()
	call := j.inflight
	if call == nil {
		now := j.opts.Clock.Now()
		if now.Sub(j.lastAttempt) < j.opts.MinRefetchInterval {
			j.mu.Unlock()
			return nil, fail(CodeInvalid, "token signed with an unknown key id")
		}
		call = j.startFetch(now)
	}
	j.mu.Unlock()
	if err := wait(ctx, call); err != nil {
		return nil, err
	}
	return j.usableKeys()
}

// mayRetry reports whether a fetch may start now given the last attempt. A
// failed attempt blocks retries for MinRefetchInterval so a dead provider is
// not hit on every request; a success leaves scheduling to the refresh
// interval. Callers hold j.mu.
func (j *JWKS) mayRetry(now time.Time) bool {
	return j.lastErr == nil || now.Sub(j.lastAttempt) >= j.opts.MinRefetchInterval
}

// startFetch launches a fetch shared by everyone who waits on it. It runs on
// its own goroutine with its own deadline so that one caller giving up does
// not cancel the fetch for the others. Callers hold j.mu.
func (j *JWKS) startFetch(now time.Time) *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	j.inflight = call
	j.lastAttempt = now
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), j.opts.FetchTimeout)
		keys, err := j.fetch(ctx)
		cancel()
		j.mu.Lock()
		j.lastErr = err
		if err == nil {
			j.keys = newKeySet(keys)
			j.fetchedAt = j.opts.Clock.Now()
		} else {
			j.opts.Logger.Warn("auth: JWKS fetch failed; cached keys (if any) stay in use", "error", err)
		}
		j.inflight = nil
		j.mu.Unlock()
		close(call.done)
	}()
	return call
}

func wait(ctx context.Context, call *fetchCall) *Error {
	select {
	case <-call.done:
		return nil
	case <-ctx.Done():
		return fail(CodeInvalid, "verification abandoned while fetching the JWKS")
	}
}

// fetch downloads and parses the key set. Errors carry details for the log;
// they never reach the client.
func (j *JWKS) fetch(ctx context.Context) ([]*verifyKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	defer resp.Body.Close()
	// Content-Type is not checked: providers and static hosting often
	// mislabel the document, and parsing it as a key set is the real test.
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS endpoint answered HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS read: %w", err)
	}
	if len(body) > MaxJWKSSize {
		return nil, errors.New("JWKS document exceeds 1 MiB")
	}
	keys, err := parseJWKSet(body)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		j.opts.prepare(k)
	}
	return keys, nil
}

// waitIdle blocks until no fetch is in flight. Tests use it to observe the
// effect of a background refresh without sleeping.
func (j *JWKS) waitIdle() {
	j.mu.Lock()
	call := j.inflight
	j.mu.Unlock()
	if call != nil {
		<-call.done
	}
}
