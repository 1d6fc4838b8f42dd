// Command echo is the gorilla/websocket server the benchmarks compare against (see
// BENCHMARKS.md): a WebSocket echo at /echo and "Hello, World!" at /plain, the same two
// endpoints bench-server serves. It logs nothing per message, like the Rust servers.
//
// Built by bench/run.sh in GOPATH mode against Debian's golang-github-gorilla-websocket-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o bench/target/gorilla-echo bench/go/echo.go
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

// The zero Upgrader: default buffer sizes (the hijacked connection's 4 KiB bufio buffers),
// same-origin check, no compression.
var upgrader websocket.Upgrader

func serveEcho(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has already written the error response
	}
	defer conn.Close()
	for {
		kind, payload, err := conn.ReadMessage()
		if err != nil {
			return // includes the peer's close, which the default handler answered
		}
		if err = conn.WriteMessage(kind, payload); err != nil {
			return
		}
	}
}

func servePlain(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("Hello, World!"))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", serveEcho)
	mux.HandleFunc("/plain", servePlain)
	fmt.Printf("listening on %s\n", listener.Addr())
	log.Fatal(http.Serve(listener, mux))
}
