package server

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(b *testing.B) (server, client net.Conn) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		b.Fatal("accept failed")
	}
	b.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// BenchmarkWriteFetch encodes and writes a 1 MiB Fetch response (v12) over
// loopback TCP to a client that reads and discards it: plain is the
// generic path (kmsg AppendTo copies the records into the response buffer,
// written through the bufio.Writer), vectored encodes the framing only and
// writes it and the record sets with one writev.
func BenchmarkWriteFetch(b *testing.B) {
	for _, parts := range []int{1, 8} {
		for _, mode := range []string{"plain", "vectored"} {
			b.Run(fmt.Sprintf("%dx%dKiB/%s", parts, 1024/parts, mode), func(b *testing.B) {
				server, client := tcpPair(b)
				go func() {
					buf := make([]byte, 1<<20)
					for {
						if _, err := client.Read(buf); err != nil {
							return
						}
					}
				}()
				sizes := make([]int, parts)
				for i := range sizes {
					sizes[i] = (1 << 20) / parts
				}
				fetch := fetchShape(rand.New(rand.NewPCG(1, 1)), 12, [][]int{sizes}, nil)
				var resp kmsg.Response = fetch
				if mode == "vectored" {
					resp = &testFetch{FetchResponse: fetch}
				}
				var pool sync.Pool
				w := newResponseWriter(server, &pool, slog.New(slog.DiscardHandler))
				defer w.close()
				b.SetBytes(int64(len(plainFrame(1, fetch))))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.write(1, resp); err != nil {
						b.Fatal(err)
					}
					if err := w.flush(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEncodeFetch measures encoding alone (no write) of a Fetch
// response (v12) with 8 or 64 partitions of 32 KiB: plain appendResponse,
// which copies the records, against the splicer's framing-only encoding
// and the cut.
func BenchmarkEncodeFetch(b *testing.B) {
	for _, parts := range []int{8, 64} {
		sizes := make([]int, parts)
		for i := range sizes {
			sizes[i] = 32 << 10
		}
		fetch := fetchShape(rand.New(rand.NewPCG(1, 1)), 12, [][]int{sizes}, nil)
		b.Run(fmt.Sprintf("%dx32KiB/plain", parts), func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				out = appendResponse(out[:0], 1, fetch)
			}
		})
		b.Run(fmt.Sprintf("%dx32KiB/vectored", parts), func(b *testing.B) {
			b.ReportAllocs()
			resp := &testFetch{FetchResponse: fetch}
			var sp splicer
			var out []byte
			for b.Loop() {
				var err error
				out, _, err = sp.encode(out[:0], 1, resp)
				if err != nil {
					b.Fatal(err)
				}
				sp.release()
			}
		})
	}
}
