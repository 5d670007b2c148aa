package handlers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/txn"
)

// wantCodes is the Kafka error every exported error of the packages whose
// errors reach clients must be answered with. TestEveryExportedErrorMapped
// reads those packages' sources, so an error added there without a line
// here (and in errorTable) fails the test instead of reaching a client as
// UNKNOWN_SERVER_ERROR.
var wantCodes = map[string]struct {
	err  error
	code *kerr.Error
}{
	"storage.ErrOffsetOutOfRange": {storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	"storage.ErrLogFailed":        {storage.ErrLogFailed, kerr.KafkaStorageError},
	"storage.ErrClosed":           {storage.ErrClosed, kerr.NotLeaderForPartition},
	"storage.ErrDiskFull":         {storage.ErrDiskFull, kerr.KafkaStorageError},
	"storage.ErrInvalidBatch":     {storage.ErrInvalidBatch, kerr.CorruptMessage},
	"storage.ErrInvalidOffset":    {storage.ErrInvalidOffset, kerr.NotLeaderForPartition},
	"storage.ErrCorruptSegment":   {storage.ErrCorruptSegment, kerr.KafkaStorageError},
	"storage.ErrInvalidName":      {storage.ErrInvalidName, kerr.InvalidTopicException},

	"partition.ErrNotLeader":                    {partition.ErrNotLeader, kerr.NotLeaderForPartition},
	"partition.ErrNotFollower":                  {partition.ErrNotFollower, kerr.NotLeaderForPartition},
	"partition.ErrNotReplica":                   {partition.ErrNotReplica, kerr.NotLeaderForPartition},
	"partition.ErrNotEnoughReplicas":            {partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	"partition.ErrNotEnoughReplicasAfterAppend": {partition.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	"partition.ErrRequestTimedOut":              {partition.ErrRequestTimedOut, kerr.RequestTimedOut},
	"partition.ErrFencedLeaderEpoch":            {partition.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	"partition.ErrUnknownLeaderEpoch":           {partition.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	"partition.ErrMessageTooLarge":              {partition.ErrMessageTooLarge, kerr.MessageTooLarge},
	"partition.ErrCorruptBatch":                 {partition.ErrCorruptBatch, kerr.CorruptMessage},
	"partition.ErrInvalidRecord":                {partition.ErrInvalidRecord, kerr.InvalidRecord},
	"partition.ErrUnsupportedMagic":             {partition.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	"partition.ErrOutOfOrderSequence":           {partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	"partition.ErrInvalidProducerEpoch":         {partition.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	"partition.ErrUnknownProducerID":            {partition.ErrUnknownProducerID, kerr.UnknownProducerID},
	"partition.ErrDecompressedTooLarge":         {partition.ErrDecompressedTooLarge, kerr.MessageTooLarge},
	"partition.ErrInvalidTimestamp":             {partition.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	// A broker without the feature: not an authorization failure.
	"partition.ErrTransactionsUnsupported": {partition.ErrTransactionsUnsupported, kerr.UnsupportedVersion},
	"partition.ErrInvalidTxnState":         {partition.ErrInvalidTxnState, kerr.InvalidTxnState},

	"record.ErrTruncated":        {record.ErrTruncated, kerr.CorruptMessage},
	"record.ErrCorrupt":          {record.ErrCorrupt, kerr.CorruptMessage},
	"record.ErrInvalid":          {record.ErrInvalid, kerr.InvalidRecord},
	"record.ErrUnsupportedMagic": {record.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	"record.ErrInvalidRecord":    {record.ErrInvalidRecord, kerr.InvalidRecord},
	"record.ErrNullKey":          {record.ErrNullKey, kerr.InvalidRecord},
	"record.ErrInvalidTimestamp": {record.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	"record.ErrTooLarge":         {record.ErrTooLarge, kerr.MessageTooLarge},
	"record.ErrNotMarker":        {record.ErrNotMarker, kerr.CorruptMessage},

	"group.ErrNotCoordinator":          {group.ErrNotCoordinator, kerr.NotCoordinator},
	"group.ErrCoordinatorLoading":      {group.ErrCoordinatorLoading, kerr.CoordinatorLoadInProgress},
	"group.ErrCoordinatorNotAvailable": {group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	// Limits that lift as groups expire: retriable, not fatal.
	"group.ErrTooManyGroups":         {group.ErrTooManyGroups, kerr.CoordinatorNotAvailable},
	"group.ErrTooManyMembers":        {group.ErrTooManyMembers, kerr.CoordinatorNotAvailable},
	"group.ErrInvalidGroupID":        {group.ErrInvalidGroupID, kerr.InvalidGroupID},
	"group.ErrUnknownMember":         {group.ErrUnknownMember, kerr.UnknownMemberID},
	"group.ErrMemberIDRequired":      {group.ErrMemberIDRequired, kerr.MemberIDRequired},
	"group.ErrIllegalGeneration":     {group.ErrIllegalGeneration, kerr.IllegalGeneration},
	"group.ErrRebalanceInProgress":   {group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	"group.ErrFencedInstance":        {group.ErrFencedInstance, kerr.FencedInstanceID},
	"group.ErrInconsistentProtocol":  {group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol},
	"group.ErrGroupMaxSize":          {group.ErrGroupMaxSize, kerr.GroupMaxSizeReached},
	"group.ErrInvalidSessionTimeout": {group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	"group.ErrGroupNotFound":         {group.ErrGroupNotFound, kerr.GroupIDNotFound},
	"group.ErrNonEmptyGroup":         {group.ErrNonEmptyGroup, kerr.NonEmptyGroup},
	"group.ErrSubscribedToTopic":     {group.ErrSubscribedToTopic, kerr.GroupSubscribedToTopic},
	"group.ErrMetadataTooLarge":      {group.ErrMetadataTooLarge, kerr.OffsetMetadataTooLarge},
	"group.ErrRecordTooLarge":        {group.ErrRecordTooLarge, kerr.InvalidCommitOffsetSize},

	"txn.ErrNotCoordinator":          {txn.ErrNotCoordinator, kerr.NotCoordinator},
	"txn.ErrCoordinatorLoading":      {txn.ErrCoordinatorLoading, kerr.CoordinatorLoadInProgress},
	"txn.ErrCoordinatorNotAvailable": {txn.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	// A limit that lifts as ids are freed: retriable.
	"txn.ErrTooManyIDs":               {txn.ErrTooManyIDs, kerr.CoordinatorNotAvailable},
	"txn.ErrInvalidTransactionalID":   {txn.ErrInvalidTransactionalID, kerr.InvalidRequest},
	"txn.ErrInvalidTimeout":           {txn.ErrInvalidTimeout, kerr.InvalidTransactionTimeout},
	"txn.ErrInvalidProducerIDMapping": {txn.ErrInvalidProducerIDMapping, kerr.InvalidProducerIDMapping},
	// Handlers downgrade it to INVALID_PRODUCER_EPOCH for old versions.
	"txn.ErrProducerFenced":         {txn.ErrProducerFenced, kerr.ProducerFenced},
	"txn.ErrInvalidTxnState":        {txn.ErrInvalidTxnState, kerr.InvalidTxnState},
	"txn.ErrConcurrentTransactions": {txn.ErrConcurrentTransactions, kerr.ConcurrentTransactions},
}

// exportedErrors lists the exported package-level Err* variables declared
// in the non-test sources of the package in dir, as "pkg.ErrName".
func exportedErrors(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", path, err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(id.Name, "Err") && id.IsExported() {
						names = append(names, f.Name.Name+"."+id.Name)
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

// TestEveryExportedErrorMapped walks every exported error of the packages
// whose errors reach clients and checks the code a client gets for it,
// bare and wrapped the way callers wrap (fmt.Errorf with %w).
func TestEveryExportedErrorMapped(t *testing.T) {
	seen := 0
	for _, dir := range []string{"../storage", "../partition", "../record", "../group", "../txn"} {
		names := exportedErrors(t, dir)
		if len(names) == 0 {
			t.Fatalf("%s: found no exported errors; is the path right?", dir)
		}
		for _, name := range names {
			w, ok := wantCodes[name]
			if !ok {
				t.Errorf("%s has no expected Kafka code: add it to wantCodes and errorTable", name)
				continue
			}
			seen++
			for _, err := range []error{w.err, fmt.Errorf("context: %w", w.err)} {
				if got := errorCode(err); got != w.code.Code {
					t.Errorf("%s (%v): code %v, want %v", name, err, kerr.ErrorForCode(got), w.code)
				}
			}
		}
	}
	if seen != len(wantCodes) {
		t.Errorf("wantCodes has %d entries but the sources declare %d of them: remove the stale ones", len(wantCodes), seen)
	}
}
