package server

import "github.com/jazzgo/jazz-tools/core/engine"

// Engine returns the engine over the bundle in force, for in-process
// backends and tests that read the server's confirmed state directly. It
// fails once the server is closed.
func (s *Server) Engine() (*engine.DB, error) { return s.app.current() }
