// Command scenarios is segmentio/kafka-go's scenario program for keel's client
// compatibility suite: compat-tests/README.md defines the environment it reads, its exit
// codes and scenarios 1-9.
//
// kafka-go 0.2.1 (Debian's golang-github-segmentio-kafka-go-dev) never sends ApiVersions:
// it speaks Metadata v1, Produce v2 and Fetch v2 with the legacy message format (magic 1,
// which has no headers), ListOffsets v1, CreateTopics v0, DeleteTopics v1, FindCoordinator
// v0, JoinGroup v1, SyncGroup v0, Heartbeat v0, OffsetCommit v2 and OffsetFetch v1. It
// has no idempotent producer, no CreatePartitions and no zstd.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

// kafkaGoVersion is the Debian package's version; kafka-go has no version constant.
const kafkaGoVersion = "0.2.1"

const partitions = 3 // of every canonical topic

// noHeaders is what every scenario that checks records says about headers.
const noHeaders = "kafka-go " + kafkaGoVersion + " writes and reads the legacy message format (magic 1), which has no record headers: headers are neither produced nor checked"

var (
	bootstrap string   // the first of KEEL_BOOTSTRAP's addresses that accepts a connection
	brokers   []string // all of them
	prefix    string   // KEEL_TOPIC_PREFIX
)

func main() {
	fmt.Printf("client-version: kafka-go %s (%s)\n", kafkaGoVersion, runtime.Version())
	brokers = strings.Split(os.Getenv("KEEL_BOOTSTRAP"), ",")
	bootstrap = reachable(brokers)
	prefix = os.Getenv("KEEL_TOPIC_PREFIX")
	scenario := os.Getenv("KEEL_SCENARIO")
	scenarios := map[string]func() error{
		"1": scenarioAdmin,
		"2": scenarioCodecs,
		"3": scenarioIdempotence,
		"4": scenarioGroup,
		"5": scenarioSeek,
		"6": scenarioErrors,
		"7": func() error { return scenarioMixed(os.Getenv("KEEL_MODE"), os.Getenv("KEEL_TOPIC")) },
		"8": func() error { return scenarioHandover(os.Getenv("KEEL_TOPIC")) },
		"9": func() error {
			return unsupported("kafka-go " + kafkaGoVersion + " has no transactions (no transactional producer, no isolation level: it speaks only Produce v2 and Fetch v2)")
		},
	}
	run, ok := scenarios[scenario]
	err := fmt.Errorf("unknown KEEL_SCENARIO %q", scenario)
	if ok {
		err = run()
	}
	var reason unsupported
	if errors.As(err, &reason) {
		fmt.Printf("unsupported: %s\n", reason)
		os.Exit(77)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kafka-go scenario %s failed: %v\n", scenario, err)
		os.Exit(1)
	}
}

// unsupported is the result of a scenario kafka-go cannot do: the reason, naming the
// version and the missing feature.
type unsupported string

func (u unsupported) Error() string { return string(u) }

func named(name string) string { return prefix + name }

// ---------------------------------------------------------------------------------------
// The canonical record set (headers left out: see noHeaders).

type record struct {
	i          int
	key, value []byte // nil for null
	partition  int
}

func canonical(i int) record {
	r := record{i: i, partition: i % partitions}
	if i%10 != 0 {
		r.key = []byte("key-" + strconv.Itoa(i))
	}
	if i%10 != 5 {
		r.value = []byte("value-" + strconv.Itoa(i) + "-")
		for j := 0; j < i%50; j++ {
			r.value = append(r.value, byte((i+j)%256))
		}
	}
	return r
}

// byPartition returns canonical records 0..count-1 by partition, in order.
func byPartition(count int) [][]record {
	out := make([][]record, partitions)
	for i := 0; i < count; i++ {
		r := canonical(i)
		out[r.partition] = append(out[r.partition], r)
	}
	return out
}

// kafka-go reads a null and an empty key or value alike (nil); no canonical key or value
// is empty, so nil means null here.
func sameBytes(got, want []byte) bool {
	return (got == nil) == (want == nil) && bytes.Equal(got, want)
}

func show(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("<%x>", b)
}

// ---------------------------------------------------------------------------------------
// Helpers.

func dial() (*kafka.Conn, error) { return kafka.Dial("tcp", bootstrap) }

// reachable is the first address that accepts a connection (kafka-go's Conn, Reader and
// DialLeader take one address), or the first address when none does.
func reachable(addrs []string) string {
	for _, addr := range addrs {
		if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			conn.Close()
			return addr
		}
	}
	return addrs[0]
}

func createTopic(topic string, n int) error {
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: n, ReplicationFactor: 1})
}

// leader opens a connection to the leader of one partition, acks=all for what it writes.
func leader(topic string, partition int) (*kafka.Conn, error) {
	conn, err := kafka.DialLeader(context.Background(), "tcp", bootstrap, topic, partition)
	if err != nil {
		return nil, err
	}
	if err := conn.SetRequiredAcks(-1); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// produceCanonical writes canonical records 0..count-1, each to its own partition, in
// requests of at most `chunk` records.
func produceCanonical(topic string, count int, codec kafka.CompressionCodec, chunk int) error {
	for p, records := range byPartition(count) {
		conn, err := leader(topic, p)
		if err != nil {
			return fmt.Errorf("%s partition %d: %w", topic, p, err)
		}
		for start := 0; start < len(records); start += chunk {
			end := start + chunk
			if end > len(records) {
				end = len(records)
			}
			msgs := make([]kafka.Message, 0, end-start)
			for _, r := range records[start:end] {
				msgs = append(msgs, kafka.Message{Key: r.key, Value: r.value})
			}
			if _, err = conn.WriteCompressedMessages(codec, msgs...); err != nil {
				break
			}
		}
		conn.Close()
		if err != nil {
			return fmt.Errorf("produce to %s partition %d: %w", topic, p, err)
		}
	}
	return nil
}

// readPartition reads `count` messages of one partition from offset 0.
func readPartition(topic string, partition, count int) ([]kafka.Message, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{bootstrap}, Topic: topic, Partition: partition,
		MaxBytes: 10 << 20, MaxWait: 200 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []kafka.Message
	for len(got) < count {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return got, fmt.Errorf("%s partition %d after %d of %d records: %w", topic, partition, len(got), count, err)
		}
		got = append(got, m)
	}
	return got, nil
}

// verifyCanonical reads back canonical records 0..count-1 and checks every key, value,
// partition, order and offset, and that nothing lies beyond them.
func verifyCanonical(topic string, count int) error {
	for p, want := range byPartition(count) {
		got, err := readPartition(topic, p, len(want))
		if err != nil {
			return err
		}
		for n, m := range got {
			where := fmt.Sprintf("%s partition %d offset %d (record %d)", topic, p, m.Offset, want[n].i)
			switch {
			case m.Offset != int64(n):
				return fmt.Errorf("%s: expected offset %d", where, n)
			case !sameBytes(m.Key, want[n].key):
				return fmt.Errorf("%s: key %s, expected %s", where, show(m.Key), show(want[n].key))
			case !sameBytes(m.Value, want[n].value):
				return fmt.Errorf("%s: value %s, expected %s", where, show(m.Value), show(want[n].value))
			}
		}
		conn, err := leader(topic, p)
		if err != nil {
			return err
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			return err
		}
		if last != int64(len(want)) {
			return fmt.Errorf("%s partition %d: high watermark %d, expected %d", topic, p, last, len(want))
		}
	}
	return nil
}

// expectError checks that err is Kafka error `want` and prints it.
func expectError(what string, err error, want kafka.Error) error {
	var got kafka.Error
	if !errors.As(err, &got) || got != want {
		return fmt.Errorf("%s: got %v, expected %s (%d)", what, err, want.Title(), int(want))
	}
	fmt.Printf("%s: %v (%s)\n", what, err, want.Title())
	return nil
}

// ---------------------------------------------------------------------------------------
// Scenarios.

func scenarioAdmin() error {
	topic := named("s1-admin")
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Printf("connected to %s\n", conn.RemoteAddr())
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}); err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	described, err := conn.ReadPartitions(topic)
	if err != nil {
		return fmt.Errorf("describe %s: %w", topic, err)
	}
	if len(described) != 3 {
		return fmt.Errorf("describe %s: %d partitions, expected 3", topic, len(described))
	}
	for _, p := range described {
		if p.Topic != topic || p.Leader.Host == "" {
			return fmt.Errorf("%s partition %d: topic %q, leader %+v", topic, p.ID, p.Topic, p.Leader)
		}
	}
	if err := conn.DeleteTopics(topic); err != nil {
		return fmt.Errorf("delete %s: %w", topic, err)
	}
	// Metadata v1 would auto-create the topic it asks for, so "it is gone" is checked by
	// deleting it again.
	if err := expectError("delete "+topic+" again", conn.DeleteTopics(topic), kafka.UnknownTopicOrPartition); err != nil {
		return err
	}
	fmt.Printf("partial: kafka-go %s cannot list all topics (its Metadata v1 request sends an empty topic list, which asks for none): the topic is found by describing it, and its deletion by deleting it again\n", kafkaGoVersion)
	return nil
}

func scenarioCodecs() error {
	const count = 10000
	codecs := []struct {
		name  string
		codec kafka.CompressionCodec
	}{{"none", nil}, {"gzip", gzip.NewCompressionCodec()}, {"snappy", snappy.NewCompressionCodec()}, {"lz4", lz4.NewCompressionCodec()}}
	fmt.Printf("skipped codec: zstd: kafka-go %s has no zstd codec\n", kafkaGoVersion)
	for _, c := range codecs {
		topic := named("s2-" + c.name)
		if err := createTopic(topic, partitions); err != nil {
			return err
		}
		if err := produceCanonical(topic, count, c.codec, 500); err != nil {
			return err
		}
		if err := verifyCanonical(topic, count); err != nil {
			return err
		}
		fmt.Printf("%s: %d records round-tripped\n", c.name, count)
	}
	fmt.Printf("partial: %s\n", noHeaders)
	return nil
}

func scenarioIdempotence() error {
	return unsupported("kafka-go " + kafkaGoVersion + " has no idempotent producer (no InitProducerId, the legacy message format has no producer id or sequence numbers): a retried Produce whose response was lost is appended twice")
}

func scenarioGroup() error {
	topic, group := named("s4-group"), named("s4-group")
	const n = 6
	if err := createTopic(topic, n); err != nil {
		return err
	}
	var mu sync.Mutex
	deliveries := map[string]int{}
	produced := 0
	produce := func(count int) error {
		for p := 0; p < n; p++ {
			var msgs []kafka.Message
			for i := produced; i < produced+count; i++ {
				if i%n == p {
					msgs = append(msgs, kafka.Message{Key: []byte("k-" + strconv.Itoa(i)), Value: []byte("s4-" + strconv.Itoa(i))})
				}
			}
			conn, err := leader(topic, p)
			if err != nil {
				return err
			}
			_, err = conn.WriteMessages(msgs...)
			conn.Close()
			if err != nil {
				return fmt.Errorf("produce to %s partition %d: %w", topic, p, err)
			}
		}
		produced += count
		return nil
	}

	type member struct {
		name     string
		reader   *kafka.Reader
		received int
		done     chan error
	}
	// A member commits each record synchronously (CommitInterval 0) before the next.
	start := func(name string) *member {
		m := &member{name: name, done: make(chan error, 1)}
		m.reader = kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{bootstrap}, GroupID: group, Topic: topic,
			MaxWait: 200 * time.Millisecond, HeartbeatInterval: time.Second,
			SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		})
		go func() {
			for {
				msg, err := m.reader.FetchMessage(context.Background())
				if err != nil {
					m.done <- err
					return
				}
				mu.Lock()
				deliveries[string(msg.Value)]++
				m.received++
				mu.Unlock()
				if err := m.reader.CommitMessages(context.Background(), msg); err != nil {
					m.done <- fmt.Errorf("member %s commit: %w", name, err)
					return
				}
			}
		}()
		return m
	}
	stop := func(m *member) { m.reader.Close() }
	// Every record produced so far delivered exactly once (after a grace period so a late
	// duplicate is noticed too).
	allOnce := func(phase string, members ...*member) error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			distinct := len(deliveries)
			mu.Unlock()
			if distinct == produced {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %d of %d distinct records after 20 s", phase, distinct, produced)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second)
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < produced; i++ {
			if times := deliveries["s4-"+strconv.Itoa(i)]; times != 1 {
				return fmt.Errorf("%s: record s4-%d delivered %d times", phase, i, times)
			}
		}
		if len(deliveries) != produced {
			return fmt.Errorf("%s: %d distinct values, produced %d", phase, len(deliveries), produced)
		}
		counts := ""
		for _, m := range members {
			counts += fmt.Sprintf(" %s:%d", m.name, m.received)
		}
		fmt.Printf("%s:%s\n", phase, counts)
		return nil
	}
	// kafka-go's Reader does not expose its assignment: the members are given the time of
	// a join (the group's initial delay and one rebalance) before records are produced.
	const settle = 8 * time.Second

	a, b, c := start("a"), start("b"), start("c")
	time.Sleep(settle)
	if err := produce(600); err != nil {
		return err
	}
	if err := allOnce("three members", a, b, c); err != nil {
		return err
	}
	stop(a)
	time.Sleep(settle)
	if err := produce(600); err != nil {
		return err
	}
	if err := allOnce("two members", b, c); err != nil {
		return err
	}
	stop(b)
	stop(c)
	if err := produce(300); err != nil {
		return err
	}
	d := start("d")
	defer stop(d)
	if err := allOnce("new member", d); err != nil {
		return err
	}
	if d.received != 300 {
		return fmt.Errorf("new member received %d records, expected 300", d.received)
	}
	return nil
}

func scenarioSeek() error {
	topic := named("s5-seek")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := createTopic(topic, 1); err != nil {
		return err
	}
	conn, err := leader(topic, 0)
	if err != nil {
		return err
	}
	defer conn.Close()
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte("s5-" + strconv.Itoa(i)), Time: t0.Add(time.Duration(i) * time.Second)}
	}
	if _, err := conn.WriteMessages(msgs...); err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}

	byTime, err := conn.ReadOffset(t0.Add(30500 * time.Millisecond))
	if err != nil || byTime != 31 {
		return fmt.Errorf("offset for time T0+30500: %d (%v), expected 31", byTime, err)
	}
	first, last, err := conn.ReadOffsets()
	if err != nil || first != 0 || last != 100 {
		return fmt.Errorf("earliest %d, latest %d (%v); expected 0 and 100", first, last, err)
	}
	if _, err := conn.Seek(50, kafka.SeekAbsolute); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := conn.ReadMessage(1 << 20)
	if err != nil {
		return fmt.Errorf("read after seek to 50: %w", err)
	}
	if m.Offset != 50 || string(m.Value) != "s5-50" || !m.Time.Equal(t0.Add(50*time.Second)) {
		return fmt.Errorf("after seek to 50: offset %d value %q time %v", m.Offset, m.Value, m.Time)
	}

	// A Conn has no reset policy (auto.offset.reset=none). Its Seek checks the offset against
	// the broker's earliest and latest (ListOffsets) itself, so it never fetches out of range.
	_, err = conn.Seek(1000, kafka.SeekAbsolute)
	if err := expectError("seek to offset 1000", err, kafka.OffsetOutOfRange); err != nil {
		return err
	}
	fmt.Printf("partial: kafka-go %s has no auto.offset.reset: a Reader past the end waits for that offset to be written and one before the start skips to the first, so resetting to earliest/latest is not checked; its Seek refuses an offset outside the broker's earliest/latest itself, so no fetch out of range is sent\n", kafkaGoVersion)
	return nil
}

func scenarioErrors() error {
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()

	// DialLeader would look the topic up forever (its lookup ignores the errors of topics
	// other than the connection's), so the produce goes to the one broker directly.
	unknown := named("s6-unknown")
	nc, err := net.Dial("tcp", bootstrap)
	if err != nil {
		return err
	}
	uc := kafka.NewConn(nc, unknown, 0)
	defer uc.Close()
	_, err = uc.WriteMessages(kafka.Message{Value: []byte("x")})
	if err := expectError("produce to "+unknown, err, kafka.UnknownTopicOrPartition); err != nil {
		return err
	}
	err = conn.CreateTopics(kafka.TopicConfig{Topic: "bad name!", NumPartitions: 1, ReplicationFactor: 1})
	if err := expectError(`create topic "bad name!"`, err, kafka.InvalidTopic); err != nil {
		return err
	}

	large := named("s6-large")
	err = conn.CreateTopics(kafka.TopicConfig{Topic: large, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "100000"}}})
	if err != nil {
		return err
	}
	lc, err := leader(large, 0)
	if err != nil {
		return err
	}
	defer lc.Close()
	_, err = lc.WriteMessages(kafka.Message{Value: bytes.Repeat([]byte{'a'}, 200000)})
	if err := expectError("produce a 200000-byte record", err, kafka.MessageSizeTooLarge); err != nil {
		return err
	}
	fmt.Printf("partial: kafka-go %s has no CreatePartitions, so INVALID_PARTITIONS is not checked\n", kafkaGoVersion)
	return nil
}

func scenarioMixed(mode, topic string) error {
	const count = 1000
	switch mode {
	case "produce":
		// The canonical records carry headers, which the legacy format cannot: kafka-go only
		// verifies the other clients' records.
		return unsupported("kafka-go " + kafkaGoVersion + " writes the legacy message format (magic 1), which has no record headers, so it cannot produce the canonical records; it verifies every other client's (headers not checked)")
	case "verify":
		if err := verifyCanonical(topic, count); err != nil {
			return err
		}
		fmt.Printf("verified %d records in %s (%s)\n", count, topic, noHeaders)
	default:
		return fmt.Errorf("KEEL_MODE must be produce or verify, not %q", mode)
	}
	return nil
}

// scenarioHandover (8, ../handover.py) writes canonical records 0..999 through one
// kafka.Writer (acks=all), says it is ready, and after "go" on stdin (the leader has
// stopped meanwhile) writes 1000..1999 through the same Writer, whose partition writers must
// dial the new leaders (writer.dial: DialLeader through any of the brokers) and retry. A
// Writer flushes a partition's batch when it is full or on a timer, and retries a failed
// batch only after later ones may have gone out, so every record is a batch of its own,
// written once the one before it is acknowledged: the order within a partition holds.
func scenarioHandover(topic string) error {
	const count = 2000
	partition := 0 // of the record being written; the Writer's balancer returns it
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers: brokers, Topic: topic, RequiredAcks: -1, BatchSize: 1, MaxAttempts: 20,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition }),
	})
	defer w.Close()
	write := func(from, to int) error {
		for i := from; i < to; i++ {
			r := canonical(i)
			partition = r.partition
			if err := w.WriteMessages(context.Background(), kafka.Message{Key: r.key, Value: r.value}); err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		}
		fmt.Printf("records %d..%d acknowledged\n", from, to-1)
		return nil
	}
	if err := write(0, count/2); err != nil {
		return err
	}
	fmt.Println("handover: ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "go" {
		return fmt.Errorf("expected 'go' on stdin after the hand-over, got %q (%v)", line, err)
	}
	if err := write(count/2, count); err != nil {
		return fmt.Errorf("after the hand-over: %w", err)
	}
	bootstrap = reachable(brokers) // the stopped node may have been the first
	if err := verifyCanonical(topic, count); err != nil {
		return err
	}
	fmt.Printf("partial: %s\n", noHeaders)
	return nil
}
