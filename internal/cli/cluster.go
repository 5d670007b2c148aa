package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the KRaft metadata log, the partition DescribeQuorum
// describes.
const metadataTopic = "__cluster_metadata"

func newClusterCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show cluster health; elect leaders; drain a broker",
		Long: `Inspect and operate a cluster through the Kafka admin API (Metadata,
DescribeCluster, DescribeQuorum, ElectLeaders, AlterPartitionReassignments,
ListPartitionReassignments).`,
		Example: `  spool cluster status
  spool cluster status --json
  spool cluster elect-leaders --type preferred
  spool cluster drain --broker 3            # dry run: show the plan
  spool cluster drain --broker 3 --execute`,
	}
	cmd.AddCommand(newClusterStatusCmd(env), newClusterElectCmd(env), newClusterDrainCmd(env))
	requireSubcommand(cmd)
	return cmd
}

// clusterStatus is what `cluster status` reports; it is also the --json
// document, so its field names are part of the command's interface.
type clusterStatus struct {
	ClusterID       string            `json:"cluster_id"`
	ControllerID    int32             `json:"controller_id"`
	Brokers         []brokerStatus    `json:"brokers"`
	Quorum          *quorumStatus     `json:"quorum,omitempty"`
	QuorumError     string            `json:"quorum_error,omitempty"`
	Partitions      int               `json:"partitions"`
	UnderReplicated []partitionStatus `json:"under_replicated"`
	Offline         []partitionStatus `json:"offline"`
}

type brokerStatus struct {
	ID     int32  `json:"id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced"`
	// Alive: listed in Metadata, which names only brokers clients may use.
	Alive bool `json:"alive"`
}

type quorumStatus struct {
	LeaderID    int32         `json:"leader_id"`
	Term        int32         `json:"term"` // the leader epoch
	CommitIndex int64         `json:"commit_index"`
	Voters      []voterStatus `json:"voters"`
}

type voterStatus struct {
	ID           int32 `json:"id"`
	AppliedIndex int64 `json:"applied_index"`
	// LastContactMs is when the leader last heard from the voter, in Unix
	// milliseconds; -1 if never (or for the leader itself).
	LastContactMs int64 `json:"last_contact_ms"`
}

type partitionStatus struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
}

func newClusterStatusCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show brokers, the metadata quorum and partition health",
		Long: `Show the brokers (fenced or alive), the controller, the metadata quorum (leader,
term, commit index, each voter's applied index and last contact) and the
partitions that are under-replicated (fewer in-sync replicas than replicas) or
offline (no leader).`,
		Example: `  spool cluster status
  spool cluster status --json | jq .under_replicated`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return co.runRaw(cmd, env, func(ctx context.Context, adm *kadm.Client, cl *kgo.Client) error {
			st, err := collectStatus(ctx, adm, cl)
			if err != nil {
				return co.clusterError(err)
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return printStatus(env, st)
		})
	}
	return cmd
}

// runRaw is runAdmin for commands that also send raw kmsg requests (kadm
// does not wrap DescribeQuorum, nor list every reassignment): fn gets the
// admin client and the kgo client under it.
func (o *clientOptions) runRaw(cmd *cobra.Command, env *Env, fn func(ctx context.Context, adm *kadm.Client, cl *kgo.Client) error) error {
	adm, cl, err := o.newAdmin(env)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := o.withTimeout(cmd.Context())
	defer cancel()
	return fn(ctx, adm, cl)
}

// collectStatus asks Metadata (every topic, internal ones included),
// DescribeCluster (with fenced brokers) and DescribeQuorum. A cluster that
// does not answer DescribeQuorum (not KRaft, or an old broker) still gets
// a status, with the quorum error noted.
func collectStatus(ctx context.Context, adm *kadm.Client, cl *kgo.Client) (clusterStatus, error) {
	var st clusterStatus
	md, err := adm.Metadata(ctx)
	if err != nil {
		return st, err
	}
	st.ClusterID, st.ControllerID = md.Cluster, md.Controller
	alive := make(map[int32]kgo.BrokerMetadata)
	for _, b := range md.Brokers {
		alive[b.NodeID] = b
	}

	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.IncludeFencedBrokers = true
	dresp, derr := dreq.RequestWith(ctx, cl)
	if derr == nil {
		derr = kerr.ErrorForCode(dresp.ErrorCode)
	}
	if derr == nil {
		st.ClusterID, st.ControllerID = dresp.ClusterID, dresp.ControllerID
		for _, b := range dresp.Brokers {
			_, ok := alive[b.NodeID]
			st.Brokers = append(st.Brokers, brokerStatus{ID: b.NodeID, Host: b.Host, Port: b.Port,
				Rack: derefString(b.Rack), Fenced: b.IsFenced, Alive: ok && !b.IsFenced})
		}
	} else {
		// DescribeCluster is Kafka 2.8+; Metadata alone lists live brokers.
		for _, b := range md.Brokers {
			st.Brokers = append(st.Brokers, brokerStatus{ID: b.NodeID, Host: b.Host, Port: b.Port,
				Rack: derefString(b.Rack), Alive: true})
		}
	}
	slices.SortFunc(st.Brokers, func(a, b brokerStatus) int { return int(a.ID - b.ID) })

	if q, err := describeQuorum(ctx, cl); err != nil {
		st.QuorumError = "DescribeQuorum: " + err.Error()
	} else {
		st.Quorum = q
	}

	st.UnderReplicated, st.Offline = []partitionStatus{}, []partitionStatus{}
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			return st, fmt.Errorf("topic %q: %w", td.Topic, td.Err)
		}
		for _, p := range td.Partitions.Sorted() {
			st.Partitions++
			ps := partitionStatus{Topic: td.Topic, Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
			if p.Leader < 0 {
				st.Offline = append(st.Offline, ps)
			}
			if len(p.ISR) < len(p.Replicas) {
				st.UnderReplicated = append(st.UnderReplicated, ps)
			}
		}
	}
	return st, nil
}

// describeQuorum asks for the metadata log's Raft state.
func describeQuorum(ctx context.Context, cl *kgo.Client) (*quorumStatus, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = metadataTopic
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, brokerError(err, derefString(resp.ErrorMessage))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("DescribeQuorum: want one partition of %s in the answer", metadataTopic)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, brokerError(err, derefString(p.ErrorMessage))
	}
	q := &quorumStatus{LeaderID: p.LeaderID, Term: p.LeaderEpoch, CommitIndex: p.HighWatermark}
	for _, v := range p.CurrentVoters {
		q.Voters = append(q.Voters, voterStatus{ID: v.ReplicaID, AppliedIndex: v.LogEndOffset, LastContactMs: v.LastFetchTimestamp})
	}
	slices.SortFunc(q.Voters, func(a, b voterStatus) int { return int(a.ID - b.ID) })
	return q, nil
}

func printStatus(env *Env, st clusterStatus) error {
	w := env.Stdout
	fmt.Fprintf(w, "Cluster %s, controller %d\n\n", dash(st.ClusterID), st.ControllerID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "BROKER\tADDRESS\tRACK\tSTATE\n")
	for _, b := range st.Brokers {
		state := "alive"
		switch {
		case b.Fenced:
			state = "fenced"
		case !b.Alive:
			state = "registered, not in metadata"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", b.ID, netJoin(b.Host, b.Port), dash(b.Rack), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if st.Quorum == nil {
		fmt.Fprintf(w, "Metadata quorum: unavailable (%s)\n", st.QuorumError)
	} else {
		q := st.Quorum
		fmt.Fprintf(w, "Metadata quorum: leader %d, term %d, commit index %d\n", q.LeaderID, q.Term, q.CommitIndex)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "VOTER\tAPPLIED\tLAST-CONTACT\n")
		now := time.Now()
		for _, v := range q.Voters {
			contact := "-"
			if v.ID == q.LeaderID {
				contact = "leader"
			} else if v.LastContactMs >= 0 {
				contact = now.Sub(time.UnixMilli(v.LastContactMs)).Round(time.Millisecond).String() + " ago"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\n", v.ID, v.AppliedIndex, contact)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nPartitions: %d, under-replicated: %d, offline: %d\n", st.Partitions, len(st.UnderReplicated), len(st.Offline))
	for _, list := range []struct {
		title string
		ps    []partitionStatus
	}{{"Under-replicated", st.UnderReplicated}, {"Offline", st.Offline}} {
		if len(list.ps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s partitions:\n", list.title)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\n")
		for _, p := range list.ps {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", p.Topic, p.Partition, p.Leader, joinIDs(p.Replicas), joinIDs(p.ISR))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func netJoin(host string, port int32) string {
	return host + ":" + strconv.Itoa(int(port))
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// parseIDs parses "1,2,3" into broker ids: positive, no repeats.
func parseIDs(flag, s string) ([]int32, error) {
	var ids []int32
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.ParseInt(part, 10, 32)
		if err != nil || n < 0 {
			return nil, usageErrorf("%s %q: want comma-separated broker ids", flag, s)
		}
		if slices.Contains(ids, int32(n)) {
			return nil, usageErrorf("%s %q: broker %d given twice", flag, s, n)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}
