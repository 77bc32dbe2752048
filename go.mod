module github.com/jazzgo/jazz-tools

go 1.26

require (
	filippo.io/edwards25519 v1.2.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/hack-pad/safejs v0.1.0
	go.etcd.io/bbolt v1.5.0
	nhooyr.io/websocket v1.8.17
)

require golang.org/x/sys v0.45.0 // indirect
