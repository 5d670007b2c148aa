package storagetest

import (
	"bytes"
	"testing"

	"github.com/spool-mq/spool/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestBuildIsValid(t *testing.T) {
	b := Build(Spec{BaseOffset: 7, LeaderEpoch: 3, Values: [][]byte{[]byte("a"), []byte("bc")},
		Keys: [][]byte{nil, []byte("k")}, Timestamps: []int64{100, 90}})
	h, err := record.ValidateProduced(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 7 || h.PartitionLeaderEpoch != 3 || h.NumRecords != 2 || h.LastOffsetDelta != 1 ||
		h.BaseTimestamp != 90 || h.MaxTimestamp != 100 || h.ProducerID != -1 || h.Size() != len(b) {
		t.Fatalf("header = %+v", h)
	}
	var got []kmsg.Record
	if err := record.NewDecoder().Records(b, func(r *kmsg.Record) bool {
		got = append(got, *r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Value) != "a" || got[0].Key != nil || string(got[1].Key) != "k" ||
		got[1].OffsetDelta != 1 || got[0].TimestampDelta != 10 {
		t.Fatalf("records = %+v", got)
	}
}

func TestSized(t *testing.T) {
	for _, tc := range []struct{ records, size int }{{1, 1024}, {10, 1024}, {3, 10}, {100, 65536}} {
		b := Sized(tc.records, tc.size, 5)
		h, err := record.ValidateProduced(b)
		if err != nil {
			t.Fatal(err)
		}
		if int(h.NumRecords) != tc.records {
			t.Fatalf("records = %d", h.NumRecords)
		}
		if tc.size > 61+tc.records*16 && (len(b) > tc.size+tc.records*4 || len(b) < tc.size*3/4) {
			t.Fatalf("Sized(%d, %d) is %d bytes", tc.records, tc.size, len(b))
		}
	}
	if !bytes.Equal(Sized(2, 200, 1), Sized(2, 200, 1)) {
		t.Fatal("not deterministic")
	}
}
