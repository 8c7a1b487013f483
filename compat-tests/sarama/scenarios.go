// Command scenarios is sarama's scenario program for keel's client compatibility suite:
// compat-tests/README.md defines the environment it reads, its exit codes and scenarios
// 1-8.
//
// Sarama 1.22.1 does not negotiate API versions with ApiVersions: Config.Version alone
// decides which version of each request it sends. With V2_2_0_0, the highest it knows, it
// speaks Metadata v5, Produce v3 (RecordBatch v2, with headers), Fetch v4, ListOffsets v1,
// CreateTopics v2, DeleteTopics v1, CreatePartitions v0, JoinGroup v1, OffsetCommit v1
// and InitProducerId v0.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

// saramaVersion is the Debian package's version (golang-github-shopify-sarama-dev);
// sarama 1.22.1 has no version constant of its own.
const saramaVersion = "1.22.1"

const partitions = 3 // of every canonical topic

// topicPrefix (KEEL_TOPIC_PREFIX, optional, default empty) goes in front of every topic
// name and group id of scenarios 1-6, so that runs sharing a broker never meet.
var topicPrefix = os.Getenv("KEEL_TOPIC_PREFIX")

// prefixed is name with topicPrefix in front.
func prefixed(name string) string { return topicPrefix + name }

func main() {
	fmt.Printf("client-version: sarama %s (%s)\n", saramaVersion, runtime.Version())
	brokers := strings.Split(os.Getenv("KEEL_BOOTSTRAP"), ",")
	scenario := os.Getenv("KEEL_SCENARIO")
	var err error
	switch scenario {
	case "1":
		err = scenarioAdmin(brokers)
	case "2":
		err = scenarioCodecs(brokers)
	case "3":
		err = scenarioIdempotence(brokers)
	case "4":
		err = scenarioGroup(brokers)
	case "5":
		err = scenarioSeek(brokers)
	case "6":
		err = scenarioErrors(brokers)
	case "7":
		err = scenarioMixed(brokers, os.Getenv("KEEL_MODE"), os.Getenv("KEEL_TOPIC"))
	case "8":
		err = scenarioHandover(brokers, os.Getenv("KEEL_TOPIC"))
	case "9":
		err = unsupported(fmt.Sprintf("sarama %s has no transactional producer (it came in 1.37.0): it "+
			"has the transaction requests' types and a read_committed consumer, but nothing that "+
			"begins, commits or aborts a transaction",
			saramaVersion))
	default:
		err = fmt.Errorf("unknown KEEL_SCENARIO %q", scenario)
	}
	var reason unsupported
	if errors.As(err, &reason) {
		fmt.Printf("unsupported: %s\n", reason)
		os.Exit(77)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sarama scenario %s failed: %v\n", scenario, err)
		os.Exit(1)
	}
}

// unsupported is the result of a scenario sarama cannot do: the reason, naming the
// version and the missing feature.
type unsupported string

func (u unsupported) Error() string { return string(u) }

// newConfig is the configuration every scenario starts from: sarama's defaults, plus the
// newest protocol version sarama knows, explicit partitions and synchronous results.
func newConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "keel-compat-sarama"
	cfg.Version = sarama.MaxVersion
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true // a SyncProducer needs them
	cfg.Consumer.Return.Errors = true
	return cfg
}

// ---- the canonical record set (README.md) ----

type record struct {
	i          int
	key, value []byte
	headers    []sarama.RecordHeader
	partition  int32
}

func canonical(i int) record {
	r := record{i: i, partition: int32(i % partitions)}
	if i%10 != 0 {
		r.key = []byte(fmt.Sprintf("key-%d", i))
	}
	if i%10 != 5 {
		r.value = []byte(fmt.Sprintf("value-%d-", i))
		for j := 0; j < i%50; j++ {
			r.value = append(r.value, byte((i+j)%256))
		}
	}
	if i%4 != 0 {
		r.headers = []sarama.RecordHeader{
			{Key: []byte("h-index"), Value: []byte(strconv.Itoa(i))},
			{Key: []byte("h-bin"), Value: []byte{byte(i % 256), 0x00, 0xff}},
		}
	}
	return r
}

func (r record) message(topic string) *sarama.ProducerMessage {
	msg := &sarama.ProducerMessage{Topic: topic, Partition: r.partition, Headers: r.headers}
	if r.key != nil {
		msg.Key = sarama.ByteEncoder(r.key)
	}
	if r.value != nil {
		msg.Value = sarama.ByteEncoder(r.value)
	}
	return msg
}

func canonicalMessages(topic string, count int) []*sarama.ProducerMessage {
	msgs := make([]*sarama.ProducerMessage, count)
	for i := range msgs {
		msgs[i] = canonical(i).message(topic)
	}
	return msgs
}

// sameBytes is bytes.Equal that also tells null from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// checkMessage compares one consumed record with canonical record want, which must sit at
// offset `offset` of its partition.
func checkMessage(msg *sarama.ConsumerMessage, want record, offset int64) error {
	where := fmt.Sprintf("%s partition %d offset %d (record %d)", msg.Topic, msg.Partition,
		msg.Offset, want.i)
	switch {
	case msg.Partition != want.partition || msg.Offset != offset:
		return fmt.Errorf("%s: expected partition %d offset %d", where, want.partition, offset)
	case !sameBytes(msg.Key, want.key):
		return fmt.Errorf("%s: key %q, expected %q", where, msg.Key, want.key)
	case !sameBytes(msg.Value, want.value):
		return fmt.Errorf("%s: value %q, expected %q", where, msg.Value, want.value)
	case len(msg.Headers) != len(want.headers):
		return fmt.Errorf("%s: %d headers, expected %d", where, len(msg.Headers), len(want.headers))
	}
	for n, h := range msg.Headers {
		w := want.headers[n]
		if !sameBytes(h.Key, w.Key) || !sameBytes(h.Value, w.Value) {
			return fmt.Errorf("%s: header %d is %q=%q, expected %q=%q", where, n, h.Key, h.Value,
				w.Key, w.Value)
		}
	}
	return nil
}

// verifyCanonical consumes every partition of topic from the beginning and checks that it
// holds exactly canonical records 0..count-1: each one once, in produced order, byte for byte.
func verifyCanonical(brokers []string, topic string, count int) error {
	lengths, err := canonicalPrefixes(brokers, topic, count)
	if err != nil {
		return err
	}
	for p, n := range lengths {
		if want := partitionShare(count, int32(p)); n != want {
			return fmt.Errorf("%s partition %d holds %d records, expected %d", topic, p, n, want)
		}
	}
	return nil
}

// partitionShare is how many of canonical records 0..count-1 go to partition p.
func partitionShare(count int, p int32) int {
	return (count - int(p) + partitions - 1) / partitions
}

// canonicalPrefixes consumes every partition of topic from the beginning to its end and
// checks that partition p holds the first of canonical records p, p+3, p+6, ... (of
// 0..count-1) at offsets 0, 1, 2, ...: each once, in produced order, byte for byte. It
// returns how many records each partition holds.
func canonicalPrefixes(brokers []string, topic string, count int) ([partitions]int, error) {
	var lengths [partitions]int
	client, err := sarama.NewClient(brokers, newConfig())
	if err != nil {
		return lengths, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return lengths, err
	}
	defer consumer.Close()
	deadline := time.After(15 * time.Second)
	for p := int32(0); p < partitions; p++ {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return lengths, err
		}
		if limit := partitionShare(count, p); end > int64(limit) {
			return lengths, fmt.Errorf("%s partition %d ends at offset %d, expected %d at most",
				topic, p, end, limit)
		}
		lengths[p] = int(end)
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return lengths, err
		}
		for n := 0; n < lengths[p]; n++ {
			msg, err := next(pc, deadline)
			if err == nil {
				err = checkMessage(msg, canonical(int(p)+n*partitions), int64(n))
			}
			if err != nil {
				pc.Close()
				return lengths, err
			}
		}
		if err := pc.Close(); err != nil {
			return lengths, err
		}
	}
	return lengths, nil
}

// next is the partition consumer's next record, or its error.
func next(pc sarama.PartitionConsumer, deadline <-chan time.Time) (*sarama.ConsumerMessage,
	error) {
	select {
	case msg := <-pc.Messages():
		return msg, nil
	case err := <-pc.Errors():
		return nil, err
	case <-deadline:
		return nil, errors.New("timed out waiting for records")
	}
}

// deliveryError is SendMessages' ProducerErrors, whose own text is only a count, with the
// first record's error added to the text and to the error chain.
type deliveryError struct{ sarama.ProducerErrors }

func (e deliveryError) Error() string {
	return fmt.Sprintf("%v First: %v", e.ProducerErrors, e.ProducerErrors[0].Err)
}

func (e deliveryError) Unwrap() error { return e.ProducerErrors[0].Err }

// produce sends msgs with a SyncProducer configured by cfg.
func produce(brokers []string, cfg *sarama.Config, msgs []*sarama.ProducerMessage) error {
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return err
	}
	err = producer.SendMessages(msgs)
	if errs, ok := err.(sarama.ProducerErrors); ok {
		err = deliveryError{errs}
	}
	if closeErr := producer.Close(); err == nil {
		err = closeErr
	}
	return err
}

func createTopic(admin sarama.ClusterAdmin, topic string, count int32) error {
	return createTopicWithConfig(admin, topic, count, nil)
}

// createTopicWithConfig creates a topic with topic-level configs (name -> value).
func createTopicWithConfig(admin sarama.ClusterAdmin, topic string, count int32,
	config map[string]*string) error {
	detail := &sarama.TopicDetail{NumPartitions: count, ReplicationFactor: 1,
		ConfigEntries: config}
	return admin.CreateTopic(topic, detail, false)
}

// withAdmin runs f with a ClusterAdmin and closes it afterwards.
func withAdmin(brokers []string, f func(sarama.ClusterAdmin) error) error {
	admin, err := sarama.NewClusterAdmin(brokers, newConfig())
	if err != nil {
		return err
	}
	defer admin.Close()
	return f(admin)
}

// ---- 1. admin ----

func scenarioAdmin(brokers []string) error {
	topic := prefixed("s1-admin")
	client, err := sarama.NewClient(brokers, newConfig())
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return err
	}
	if len(client.Brokers()) == 0 {
		return errors.New("metadata lists no broker")
	}
	// Sarama 1.22.1 has no NewClusterAdminFromClient: the admin opens its own client.
	return withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
		return adminTopicLifecycle(admin, topic)
	})
}

// adminTopicLifecycle creates topic, lists and describes it, deletes it and lists again.
func adminTopicLifecycle(admin sarama.ClusterAdmin, topic string) error {
	if err := createTopic(admin, topic, 3); err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		return err
	}
	if detail, ok := topics[topic]; !ok || detail.NumPartitions != 3 {
		return fmt.Errorf("ListTopics after create: %s missing or not 3 partitions: %+v", topic,
			detail)
	}
	described, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return err
	}
	if len(described) != 1 || described[0].Name != topic || described[0].Err != sarama.ErrNoError {
		return fmt.Errorf("DescribeTopics(%s) = %+v", topic, described)
	}
	ids := make([]int, 0, 3)
	for _, p := range described[0].Partitions {
		if p.Err != sarama.ErrNoError || p.Leader < 0 {
			return fmt.Errorf("%s partition %d: error %v, leader %d", topic, p.ID, p.Err, p.Leader)
		}
		ids = append(ids, int(p.ID))
	}
	sort.Ints(ids)
	if fmt.Sprint(ids) != "[0 1 2]" {
		return fmt.Errorf("%s has partitions %v, expected [0 1 2]", topic, ids)
	}
	if err := admin.DeleteTopic(topic); err != nil {
		return fmt.Errorf("delete %s: %w", topic, err)
	}
	if topics, err = admin.ListTopics(); err != nil {
		return err
	}
	if _, ok := topics[topic]; ok {
		return fmt.Errorf("ListTopics after delete still lists %s", topic)
	}
	return nil
}

// ---- 2. every codec ----

var codecs = []struct {
	name  string
	codec sarama.CompressionCodec
}{
	{"none", sarama.CompressionNone},
	{"gzip", sarama.CompressionGZIP},
	{"snappy", sarama.CompressionSnappy},
	{"lz4", sarama.CompressionLZ4},
	{"zstd", sarama.CompressionZSTD},
}

func scenarioCodecs(brokers []string) error {
	const count = 10000
	for _, c := range codecs {
		topic := prefixed("s2-" + c.name)
		err := withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
			return createTopic(admin, topic, partitions)
		})
		if err != nil {
			return fmt.Errorf("create %s: %w", topic, err)
		}
		cfg := newConfig()
		cfg.Producer.Compression = c.codec
		err = produce(brokers, cfg, canonicalMessages(topic, count))
		if c.codec == sarama.CompressionZSTD {
			// Sarama 1.22.1 compresses with zstd (cgo, DataDog/zstd) but never sends a
			// Produce request newer than v3, and KIP-110 allows zstd batches only from
			// Produce v7: Kafka rejects every one with UNSUPPORTED_COMPRESSION_TYPE.
			var de deliveryError
			if errors.As(err, &de) && len(de.ProducerErrors) == count &&
				failedWith(de.ProducerErrors, sarama.ErrUnsupportedCompressionType) {
				fmt.Printf("skipped codec: zstd: sarama %s sends zstd batches in Produce v3 "+
					"(it knows no later version); zstd needs Produce v7 (KIP-110), so the "+
					"broker refuses them: %v\n", saramaVersion, sarama.ErrUnsupportedCompressionType)
				continue
			}
			if err == nil {
				return fmt.Errorf("%s: the broker accepted zstd batches in Produce v3 requests; "+
					"Kafka answers UNSUPPORTED_COMPRESSION_TYPE (zstd needs Produce v7, KIP-110)",
					topic)
			}
		}
		if err != nil {
			return fmt.Errorf("produce %s: %w", topic, err)
		}
		if err := verifyCanonical(brokers, topic, count); err != nil {
			return err
		}
		fmt.Printf("codec %s: %d records round-tripped\n", c.name, count)
	}
	return nil
}

// failedWith tells whether every one of errs carries code.
func failedWith(errs sarama.ProducerErrors, code sarama.KError) bool {
	for _, e := range errs {
		if e.Err != code {
			return false
		}
	}
	return true
}

// ---- 3. idempotence and acks=all ----

func scenarioIdempotence(brokers []string) error {
	const count = 2000
	topic := prefixed("s3-idempotent")
	err := withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
		return createTopic(admin, topic, partitions)
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	cfg := newConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // sarama requires it for idempotence
	cfg.Producer.Retry.Max = 10
	// At most 100 records per Produce request: at least 20 requests, so the proxy's 2nd,
	// 5th and 9th exist.
	cfg.Producer.Flush.MaxMessages = 100
	msgs := canonicalMessages(topic, count)
	err = produce(brokers, cfg, msgs)
	if err == nil {
		return verifyCanonical(brokers, topic, count)
	}
	// Sarama 1.22.1 resends the records of a request that lost its connection one by one
	// (async_producer.go: brokerProducer.handleError calls retryMessages), so they are
	// batched anew, alone or with later records, and the retried batch is not the one the
	// broker appended. Kafka deduplicates only an identical batch (same first and last
	// sequence) and answers any other with OUT_OF_ORDER_SEQUENCE_NUMBER. See
	// IBM/sarama#1070 and #1430; PR #1203 calls the idempotent producer proof-of-concept
	// quality.
	var de deliveryError
	if !errors.As(err, &de) || !failedWith(de.ProducerErrors, sarama.ErrOutOfOrderSequenceNumber) {
		return fmt.Errorf("produce %s: %w", topic, err)
	}
	// Whatever the broker kept must still be exact: each record at most once, in order,
	// and every record acknowledged where its acknowledgement says.
	lengths, checkErr := canonicalPrefixes(brokers, topic, count)
	if checkErr != nil {
		return checkErr
	}
	failed := make(map[*sarama.ProducerMessage]bool)
	for _, e := range de.ProducerErrors {
		failed[e.Msg] = true
	}
	for i, msg := range msgs {
		if offset := int64(i / partitions); !failed[msg] &&
			(msg.Offset != offset || offset >= int64(lengths[msg.Partition])) {
			return fmt.Errorf("record %d was acknowledged at %s partition %d offset %d; the "+
				"partition holds %d records, record %d belongs at offset %d", i, topic,
				msg.Partition, msg.Offset, lengths[msg.Partition], i, offset)
		}
	}
	fmt.Printf("%d of %d records failed with %v; the broker kept %d, each once\n",
		len(de.ProducerErrors), count, sarama.ErrOutOfOrderSequenceNumber,
		lengths[0]+lengths[1]+lengths[2])
	return unsupported(fmt.Sprintf("sarama %s's idempotent producer re-batches the records "+
		"of a request whose response was lost, and the broker refuses the new batches with "+
		"OUT_OF_ORDER_SEQUENCE_NUMBER as Kafka does (IBM/sarama#1070, #1430)", saramaVersion))
}

// ---- consumer group members (scenarios 4 and 5) ----

// delivery is one record handed to a group member.
type delivery struct {
	member string
	msg    *sarama.ConsumerMessage
}

// claim says that a member has started consuming a partition in a generation.
type claim struct {
	member     string
	generation int32
	partition  int32
}

// forwarder is every member's ConsumerGroupHandler: it reports each claim it starts on,
// and passes each record to out and then marks it consumed.
type forwarder struct {
	member string
	out    chan<- delivery
	claims chan<- claim
}

func (forwarder) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (forwarder) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (f forwarder) ConsumeClaim(sess sarama.ConsumerGroupSession,
	c sarama.ConsumerGroupClaim) error {
	select {
	case f.claims <- claim{f.member, sess.GenerationID(), c.Partition()}:
	default: // nobody waits for claims any more: the buffer is full
	}
	for msg := range c.Messages() {
		select {
		case f.out <- delivery{f.member, msg}:
			sess.MarkMessage(msg, "")
		case <-sess.Context().Done(): // closing, and nobody reads out any more
			return nil
		}
	}
	return nil
}

// groupConfig is a member's configuration: quick rebalances, and offsets committed when a
// session ends. Sarama 1.22.1 has no synchronous commit call and no way to turn periodic
// commits off: a session commits what was marked every Offsets.CommitInterval and, one
// last time and synchronously, when it ends (on a rebalance or on Close) before its
// partitions are released. An interval longer than the scenario leaves only the latter.
func groupConfig(initial int64) *sarama.Config {
	cfg := newConfig()
	cfg.Consumer.Offsets.Initial = initial
	cfg.Consumer.Offsets.CommitInterval = time.Hour
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	return cfg
}

// member is one group member: its own ConsumerGroup (and client), consuming topic with one
// Consume call per generation until it is closed.
type member struct {
	group      sarama.ConsumerGroup
	cancel     context.CancelFunc
	done       chan struct{} // closed when the Consume loop has returned
	errorsDone chan struct{} // closed when group.Errors() is drained, after Close
}

func startMember(brokers []string, cfg *sarama.Config, groupID, topic string, handler forwarder,
	failures chan<- error) (*member, error) {
	group, err := sarama.NewConsumerGroup(brokers, groupID, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{group: group, cancel: cancel, done: make(chan struct{}),
		errorsDone: make(chan struct{})}
	go func() {
		defer close(m.errorsDone)
		for err := range group.Errors() {
			failures <- fmt.Errorf("%s: %w", handler.member, err)
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, handler); err != nil {
				failures <- fmt.Errorf("%s: %w", handler.member, err)
				return
			}
		}
	}()
	return m, nil
}

// closeMembers ends the members' sessions, which commits what they marked, and then has
// them leave the group. All sessions are ended first, so that no member rejoins for a
// generation the others are leaving. It returns the first error the members reported
// (their final commits included) that nobody has read from failures yet.
func closeMembers(failures <-chan error, members ...*member) error {
	for _, m := range members {
		m.cancel()
	}
	for _, m := range members {
		<-m.done
		err := m.group.Close()
		<-m.errorsDone
		if err != nil {
			return err
		}
	}
	select {
	case err := <-failures:
		return err
	default:
		return nil
	}
}

// ---- 4. consumer group ----

func scenarioGroup(brokers []string) error {
	const groupPartitions = 6
	topic, groupID := prefixed("s4-group"), prefixed("s4-group")
	err := withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
		return createTopic(admin, topic, groupPartitions)
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	produceRange := func(from, to int) error {
		msgs := make([]*sarama.ProducerMessage, 0, to-from)
		for i := from; i < to; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic,
				Partition: int32(i % groupPartitions),
				Value:     sarama.StringEncoder(fmt.Sprintf("s4-%d", i))})
		}
		return produce(brokers, newConfig(), msgs)
	}
	out := make(chan delivery, 2000) // more than all records: members never wait for main
	claims := make(chan claim, 100)
	failures := make(chan error, 100)
	start := func(n int) (*member, error) {
		handler := forwarder{member: fmt.Sprintf("member-%d", n), out: out, claims: claims}
		return startMember(brokers, groupConfig(sarama.OffsetOldest), groupID, topic, handler,
			failures)
	}
	collect := func(from, to int) error {
		got, err := collectRange(out, failures, from, to, groupPartitions)
		if err != nil {
			return err
		}
		shares := make([]string, 0, len(got))
		for m, n := range got {
			shares = append(shares, fmt.Sprintf("%s %d", m, n))
		}
		sort.Strings(shares)
		fmt.Printf("records %d..%d: each once (%s)\n", from, to-1, strings.Join(shares, ", "))
		return nil
	}

	if err := produceRange(0, 600); err != nil {
		return err
	}
	var members []*member
	for n := 1; n <= 3; n++ {
		m, err := start(n)
		if err != nil {
			return err
		}
		members = append(members, m)
	}
	if err := waitForBalance(claims, failures, 3, groupPartitions); err != nil {
		return err
	}
	if err := collect(0, 600); err != nil {
		return err
	}

	if err := closeMembers(failures, members[2]); err != nil {
		return err
	}
	if err := produceRange(600, 1200); err != nil {
		return err
	}
	if err := collect(600, 1200); err != nil {
		return err
	}

	if err := closeMembers(failures, members[0], members[1]); err != nil {
		return err
	}
	if err := produceRange(1200, 1500); err != nil {
		return err
	}
	last, err := start(4)
	if err != nil {
		return err
	}
	if err := collect(1200, 1500); err != nil {
		return err
	}
	return closeMembers(failures, last)
}

// waitForBalance waits until, in the newest generation, members distinct members have
// started on all partitions between them.
func waitForBalance(claims <-chan claim, failures <-chan error, members, partitions int) error {
	newest := int32(-1)
	owners := make(map[int32]string)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case c := <-claims:
			if c.generation > newest {
				newest, owners = c.generation, make(map[int32]string)
			}
			if c.generation == newest {
				owners[c.partition] = c.member
			}
		case err := <-failures:
			return err
		case <-deadline:
			return fmt.Errorf("the group did not settle: generation %d assigns %v", newest, owners)
		}
		distinct := make(map[string]bool)
		for _, m := range owners {
			distinct[m] = true
		}
		if len(owners) == partitions && len(distinct) == members {
			fmt.Printf("generation %d: %d members share the %d partitions\n", newest, members,
				partitions)
			return nil
		}
	}
}

// collectRange reads deliveries until each record in [from, to) has arrived. A record
// outside the range, seen twice or on the wrong partition is an error. It returns how many
// records each member got.
func collectRange(out <-chan delivery, failures <-chan error, from, to, partitions int) (
	map[string]int, error) {
	seen := make(map[int]bool)
	perMember := make(map[string]int)
	deadline := time.After(20 * time.Second)
	for len(seen) < to-from {
		select {
		case d := <-out:
			value := string(d.msg.Value)
			i, err := strconv.Atoi(strings.TrimPrefix(value, "s4-"))
			where := fmt.Sprintf("%s got %q (partition %d offset %d)", d.member, value,
				d.msg.Partition, d.msg.Offset)
			switch {
			case err != nil || !strings.HasPrefix(value, "s4-"):
				return nil, fmt.Errorf("%s: not a record of this scenario", where)
			case i < from || i >= to:
				return nil, fmt.Errorf("%s: expected only records %d..%d", where, from, to-1)
			case seen[i]:
				return nil, fmt.Errorf("%s: delivered twice", where)
			case d.msg.Partition != int32(i%partitions):
				return nil, fmt.Errorf("%s: produced to partition %d", where, i%partitions)
			}
			seen[i] = true
			perMember[d.member]++
		case err := <-failures:
			return nil, err
		case <-deadline:
			return nil, fmt.Errorf("timed out: %d of records %d..%d arrived", len(seen), from,
				to-1)
		}
	}
	return perMember, nil
}

// ---- 5. seeking ----

func scenarioSeek(brokers []string) error {
	const count = 100
	topic := prefixed("s5-seek")
	err := withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
		return createTopic(admin, topic, 1)
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	msgs := make([]*sarama.ProducerMessage, count)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic,
			Value:     sarama.StringEncoder(fmt.Sprintf("s5-%d", i)),
			Timestamp: t0.Add(time.Duration(i) * time.Second)}
	}
	if err := produce(brokers, newConfig(), msgs); err != nil {
		return fmt.Errorf("produce %s: %w", topic, err)
	}
	client, err := sarama.NewClient(brokers, newConfig())
	if err != nil {
		return err
	}
	defer client.Close()

	// The checks are independent: all run, and all failures are reported together.
	t0ms := t0.UnixNano() / int64(time.Millisecond)
	checks := []struct {
		name string
		run  func() error
	}{
		{"seek to offset 50", func() error {
			return seekToOffset(client, topic, 50, t0)
		}},
		{"offset for time T0+30500", func() error {
			return expectOffset(client, topic, t0ms+30500, 31)
		}},
		{"earliest offset", func() error {
			return expectOffset(client, topic, sarama.OffsetOldest, 0)
		}},
		{"latest offset", func() error {
			return expectOffset(client, topic, sarama.OffsetNewest, count)
		}},
		{"start at offset 1000, no reset", func() error {
			return outOfRange(client, topic)
		}},
		{"start at offset 1000, earliest", func() error {
			return outOfRangeReset(brokers, client, topic, "earliest", sarama.OffsetOldest, 0)
		}},
		{"start at offset 1000, latest", func() error {
			return outOfRangeReset(brokers, client, topic, "latest", sarama.OffsetNewest, count)
		}},
	}
	var failed []string
	for _, c := range checks {
		if err := c.run(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", c.name, err))
		} else {
			fmt.Printf("%s: ok\n", c.name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(checks),
			strings.Join(failed, "; "))
	}
	return nil
}

// expectOffset checks ListOffsets' answer for time (a timestamp, OffsetOldest or
// OffsetNewest).
func expectOffset(client sarama.Client, topic string, time, want int64) error {
	got, err := client.GetOffset(topic, 0, time)
	if err == nil && got != want {
		err = fmt.Errorf("offset %d, expected %d", got, want)
	}
	return err
}

// seekToOffset starts a partition consumer at offset and checks the record it reads first.
func seekToOffset(client sarama.Client, topic string, offset int64, t0 time.Time) error {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, offset)
	if err != nil {
		return err
	}
	defer pc.Close()
	msg, err := next(pc, time.After(10*time.Second))
	if err != nil {
		return err
	}
	wantTime := t0.Add(time.Duration(offset) * time.Second)
	if msg.Offset != offset || string(msg.Value) != fmt.Sprintf("s5-%d", offset) ||
		!msg.Timestamp.Equal(wantTime) {
		return fmt.Errorf("seek to %d: read offset %d value %q timestamp %v, expected "+
			"s5-%d at %v", offset, msg.Offset, msg.Value, msg.Timestamp, offset, wantTime)
	}
	return nil
}

// outOfRange starts a partition consumer at offset 1000 of a 100-record partition. Sarama's
// partition consumer has no reset policy: ConsumePartition returns ErrOffsetOutOfRange.
func outOfRange(client sarama.Client, topic string) error {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, 1000)
	if err == nil {
		pc.Close()
		return fmt.Errorf("ConsumePartition succeeded, expected %v", sarama.ErrOffsetOutOfRange)
	}
	if !errors.Is(err, sarama.ErrOffsetOutOfRange) {
		return err
	}
	fmt.Printf("ConsumePartition at offset 1000: %v\n", err)
	return nil
}

// outOfRangeReset starts a consumer group member whose committed offset, 1000, is out of
// range: sarama then starts from Consumer.Offsets.Initial, and the first record it reads
// must be at offset want. With OffsetNewest, that record is produced once the member is
// positioned.
func outOfRangeReset(brokers []string, client sarama.Client, topic, reset string,
	initial, want int64) error {
	group := prefixed("s5-" + reset)
	if err := commitOffset(client, group, topic, 1000); err != nil {
		return fmt.Errorf("commit offset 1000 for group %s: %w", group, err)
	}
	var produceNext func() error
	if initial == sarama.OffsetNewest {
		produceNext = func() error {
			msg := &sarama.ProducerMessage{Topic: topic,
				Value: sarama.StringEncoder(fmt.Sprintf("s5-%d", want))}
			return produce(brokers, newConfig(), []*sarama.ProducerMessage{msg})
		}
	}
	msg, err := firstGroupRecord(brokers, group, topic, initial, produceNext)
	if err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	if msg.Offset != want || string(msg.Value) != fmt.Sprintf("s5-%d", want) {
		return fmt.Errorf("group %s read offset %d (%q) first, expected %d", group, msg.Offset,
			msg.Value, want)
	}
	return nil
}

// commitOffset commits offset for group on partition 0 of topic as a standalone consumer
// does (an OffsetManager, no group membership), and reads it back.
func commitOffset(client sarama.Client, group, topic string, offset int64) error {
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		return err
	}
	pom, err := om.ManagePartition(topic, 0)
	if err != nil {
		om.Close()
		return err
	}
	pom.MarkOffset(offset, "")
	// Close returns after the offset manager's next commit, with its errors.
	err = pom.Close()
	if closeErr := om.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}

	if om, err = sarama.NewOffsetManagerFromClient(group, client); err != nil {
		return err
	}
	defer om.Close()
	if pom, err = om.ManagePartition(topic, 0); err != nil {
		return err
	}
	defer pom.Close()
	if committed, _ := pom.NextOffset(); committed != offset {
		return fmt.Errorf("committed offset reads back as %d", committed)
	}
	return nil
}

// firstGroupRecord has a new member of group consume topic and returns the first record
// it is given. started, when not nil, runs once the member is consuming the partition.
func firstGroupRecord(brokers []string, group, topic string, initial int64,
	started func() error) (*sarama.ConsumerMessage, error) {
	out := make(chan delivery, 10)
	claims := make(chan claim, 1)
	failures := make(chan error, 10)
	m, err := startMember(brokers, groupConfig(initial), group, topic,
		forwarder{member: group, out: out, claims: claims}, failures)
	if err != nil {
		return nil, err
	}
	deadline := time.After(15 * time.Second)
	var first *sarama.ConsumerMessage
	for first == nil && err == nil {
		select {
		case <-claims:
			if started != nil {
				err = started()
				started = nil // once, even if a rebalance gives the partition again
			}
		case d := <-out:
			first = d.msg
		case err = <-failures:
		case <-deadline:
			err = errors.New("timed out waiting for a record")
		}
	}
	if closeErr := closeMembers(failures, m); err == nil {
		err = closeErr
	}
	return first, err
}

// ---- 6. errors ----

// expectError checks that err carries the Kafka error code want and prints its text.
func expectError(what string, err error, want sarama.KError) error {
	var code sarama.KError
	var topicErr *sarama.TopicError
	var partitionsErr *sarama.TopicPartitionError
	switch {
	case errors.As(err, &topicErr):
		code = topicErr.Err
	case errors.As(err, &partitionsErr):
		code = partitionsErr.Err
	case !errors.As(err, &code):
		return fmt.Errorf("%s: got %v, expected %v", what, err, want)
	}
	if code != want {
		return fmt.Errorf("%s: got %v, expected %v", what, err, want)
	}
	fmt.Printf("%s: %v\n", what, err)
	return nil
}

func scenarioErrors(brokers []string) error {
	topic, partitionsTopic := prefixed("s6-errors"), prefixed("s6-partitions")
	send := func(topic string, value []byte) error {
		msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value)}
		return produce(brokers, newConfig(), []*sarama.ProducerMessage{msg})
	}
	err := send(prefixed("s6-unknown"), []byte("x"))
	err = expectError("produce to an unknown topic", err, sarama.ErrUnknownTopicOrPartition)
	if err != nil {
		return err
	}
	return withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
		maxMessageBytes := "100000"
		config := map[string]*string{"max.message.bytes": &maxMessageBytes}
		if err := createTopicWithConfig(admin, topic, 1, config); err != nil {
			return fmt.Errorf("create %s: %w", topic, err)
		}
		// Over the topic's max.message.bytes, well under sarama's own limit
		// (Producer.MaxMessageBytes, 1,000,000): the broker is the one to refuse it.
		err := send(topic, bytes.Repeat([]byte{'x'}, 200000))
		err = expectError("produce a 200000-byte record", err, sarama.ErrMessageSizeTooLarge)
		if err != nil {
			return err
		}
		err = createTopic(admin, "bad name!", 1)
		if err = expectError("create topic 'bad name!'", err, sarama.ErrInvalidTopic); err != nil {
			return err
		}
		if err := createTopic(admin, partitionsTopic, 3); err != nil {
			return fmt.Errorf("create %s: %w", partitionsTopic, err)
		}
		err = admin.CreatePartitions(partitionsTopic, 2, nil, false)
		return expectError("shrink a 3-partition topic to 2", err, sarama.ErrInvalidPartitions)
	})
}

// ---- 7. mixed clients ----

func scenarioMixed(brokers []string, mode, topic string) error {
	const count = 1000
	switch mode {
	case "produce":
		err := withAdmin(brokers, func(admin sarama.ClusterAdmin) error {
			return createTopic(admin, topic, partitions)
		})
		if err != nil {
			return fmt.Errorf("create %s: %w", topic, err)
		}
		return produce(brokers, newConfig(), canonicalMessages(topic, count))
	case "verify":
		return verifyCanonical(brokers, topic, count)
	}
	return fmt.Errorf("unknown KEEL_MODE %q", mode)
}

// ---- 8. hand-over (a 3-node cluster's leader stops; ../handover.py) ----

// scenarioHandover sends canonical records 0..999 through one idempotent acks=all
// SyncProducer, says it is ready, and after "go" on stdin (the leader has stopped
// meanwhile) sends 1000..1999 through the same producer, which must find the new leaders;
// then every record must be there once, in order.
func scenarioHandover(brokers []string, topic string) error {
	const count = 2000
	cfg := newConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // sarama requires it for idempotence
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return err
	}
	defer producer.Close()
	msgs := canonicalMessages(topic, count)
	send := func(from, to int) error {
		err := producer.SendMessages(msgs[from:to])
		if errs, ok := err.(sarama.ProducerErrors); ok {
			return deliveryError{errs}
		}
		if err == nil {
			fmt.Printf("records %d..%d acknowledged\n", from, to-1)
		}
		return err
	}
	if err := send(0, count/2); err != nil {
		return err
	}
	fmt.Println("handover: ready")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "go" {
		return fmt.Errorf("expected 'go' on stdin after the hand-over, got %q (%v)", line, err)
	}
	if err := send(count/2, count); err != nil {
		return fmt.Errorf("after the hand-over: %w", err)
	}
	return verifyCanonical(brokers, topic, count)
}
