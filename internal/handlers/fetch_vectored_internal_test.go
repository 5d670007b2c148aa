package handlers

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchVectoredFieldsInEncodingOrder checks that the Fetch response
// offers every partition's record batches in the order kmsg encodes them
// (topics, then their partitions): the server splices by that order and
// falls back to copying the records if it is wrong.
func TestFetchVectoredFieldsInEncodingOrder(t *testing.T) {
	resp := &fetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	var want []*[]byte
	for ti, n := range []int{2, 0, 3} {
		resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
		for range n {
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, kmsg.NewFetchResponseTopicPartition())
		}
	}
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			want = append(want, &resp.Topics[ti].Partitions[pi].RecordBatches)
		}
	}
	prefix := new([]byte)
	got := resp.VectoredFields([]*[]byte{prefix})
	if len(got) != len(want)+1 || got[0] != prefix {
		t.Fatalf("got %d fields (first %p), want %p then %d", len(got), got[0], prefix, len(want))
	}
	for i := range want {
		if got[i+1] != want[i] {
			t.Fatalf("field %d is not partition %d's record batches", i, i)
		}
	}
}
