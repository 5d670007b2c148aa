package config

// Limits bound what clients can make one broker spend: memory for requests
// and responses, connections, and time spent waiting on their behalf.
// docs/limits.md lists each with what a client sees when it hits it.
type Limits struct {
	// QueuedMaxRequestBytes (queued.max.request.bytes) is the most request
	// bytes the Kafka listener holds at once, over all connections; when
	// it is spent the broker stops reading sockets until requests finish.
	// It must be at least socket.request.max.bytes.
	QueuedMaxRequestBytes int64
	// FirstRequestTimeoutMs (connections.first.request.timeout.ms) closes
	// a connection that sends no request this long after connecting.
	FirstRequestTimeoutMs int64
	// MaxIdleMs (connections.max.idle.ms) closes a connection silent this
	// long between requests (Kafka's default: 10 minutes).
	MaxIdleMs int64
	// RequestReadTimeoutMs (socket.request.read.timeout.ms) closes a
	// connection whose request body takes longer than this to arrive
	// once its size has been read.
	RequestReadTimeoutMs int64
	// ResponseWriteTimeoutMs (socket.response.write.timeout.ms) closes a
	// connection that does not take a response off its socket in this
	// time, so a client that stops reading cannot pin response buffers.
	ResponseWriteTimeoutMs int64
	// FetchMaxBytes (fetch.max.bytes) caps a consumer Fetch response,
	// whatever MaxBytes the request asks (Kafka's broker setting).
	FetchMaxBytes int32
	// FetchMemoryMaxBytes (fetch.memory.max.bytes) is the most record
	// bytes consumer Fetch responses hold at once over all connections;
	// past it, fetches answer empty at the end of their wait.
	FetchMemoryMaxBytes int64
	// FetchWaitMaxMs (fetch.wait.max.ms) caps how long a Fetch may wait
	// for data (its MaxWaitMillis); clients use 500 ms by default.
	FetchWaitMaxMs int32
	// ProduceTimeoutMaxMs (produce.timeout.max.ms) caps how long an
	// acks=all Produce waits for the in-sync replicas (its TimeoutMillis).
	ProduceTimeoutMaxMs int32
}

// DefaultLimits are the limits of a broker with no settings.
func DefaultLimits() Limits {
	return Limits{
		QueuedMaxRequestBytes:  512 << 20,
		FirstRequestTimeoutMs:  10000,
		MaxIdleMs:              600000,
		RequestReadTimeoutMs:   60000,
		ResponseWriteTimeoutMs: 60000,
		FetchMaxBytes:          55 << 20,
		FetchMemoryMaxBytes:    1 << 30,
		FetchWaitMaxMs:         30000,
		ProduceTimeoutMaxMs:    120000,
	}
}

// limitKeys are the properties behind Limits.
func limitKeys() []brokerKey {
	l := func(f func(*Limits) *int64) func(*Broker) *int64 {
		return func(b *Broker) *int64 { return f(&b.Limits) }
	}
	l32 := func(f func(*Limits) *int32) func(*Broker) *int32 {
		return func(b *Broker) *int32 { return f(&b.Limits) }
	}
	queued := int64Key("queued.max.request.bytes", "Most request bytes held at once over all client connections; when spent, the broker stops reading sockets until requests finish (at least socket.request.max.bytes).",
		l(func(x *Limits) *int64 { return &x.QueuedMaxRequestBytes }), 1)
	check := queued.check
	queued.check = func(b *Broker) error {
		if err := check(b); err != nil {
			return err
		}
		if b.Limits.QueuedMaxRequestBytes < int64(b.MaxRequestBytes) {
			return invalid("queued.max.request.bytes", "must be >= socket.request.max.bytes (%d), got %d", b.MaxRequestBytes, b.Limits.QueuedMaxRequestBytes)
		}
		return nil
	}
	return []brokerKey{
		queued,
		int64Key("connections.first.request.timeout.ms", "Close a connection that sends no request this long after connecting (0: never).",
			l(func(x *Limits) *int64 { return &x.FirstRequestTimeoutMs }), 0),
		int64Key("connections.max.idle.ms", "Close a connection silent this long between requests (0: never).",
			l(func(x *Limits) *int64 { return &x.MaxIdleMs }), 0),
		int64Key("socket.request.read.timeout.ms", "Close a connection whose request body takes longer than this to arrive (0: never).",
			l(func(x *Limits) *int64 { return &x.RequestReadTimeoutMs }), 0),
		int64Key("socket.response.write.timeout.ms", "Close a connection that does not read a response within this time (0: never).",
			l(func(x *Limits) *int64 { return &x.ResponseWriteTimeoutMs }), 0),
		int32Key("fetch.max.bytes", "Most bytes in one consumer Fetch response, whatever the request asks.",
			l32(func(x *Limits) *int32 { return &x.FetchMaxBytes }), 1024),
		int64Key("fetch.memory.max.bytes", "Most record bytes consumer Fetch responses hold at once over all connections; past it, fetches answer empty at the end of their wait.",
			l(func(x *Limits) *int64 { return &x.FetchMemoryMaxBytes }), 1<<20),
		int32Key("fetch.wait.max.ms", "Longest a consumer Fetch may wait for data, whatever its MaxWaitMillis.",
			l32(func(x *Limits) *int32 { return &x.FetchWaitMaxMs }), 0),
		int32Key("produce.timeout.max.ms", "Longest an acks=all Produce waits for in-sync replicas, whatever its timeout.",
			l32(func(x *Limits) *int32 { return &x.ProduceTimeoutMaxMs }), 1),
	}
}
