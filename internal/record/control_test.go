package record

import "testing"

func TestMarkerRoundTrip(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := BuildMarker(42, 7, commit, 9, 1000)
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 42 || h.ProducerEpoch != 7 || h.BaseSequence != -1 || h.NumRecords != 1 {
			t.Fatalf("header %+v", h)
		}
		m, err := ParseMarker(b, &h)
		if err != nil {
			t.Fatal(err)
		}
		if m.Commit != commit || m.CoordinatorEpoch != 9 {
			t.Fatalf("marker %+v, want commit=%v epoch 9", m, commit)
		}
	}
}

func TestParseMarkerRefusesData(t *testing.T) {
	b := NewBuilder(1)
	b.Add([]byte("k"), []byte("v"))
	batch := b.Build()
	h, err := Validate(batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMarker(batch, &h); err == nil {
		t.Fatal("a data batch parsed as a marker")
	}
}
