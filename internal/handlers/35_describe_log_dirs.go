package handlers

// DescribeLogDirs (key 35, KIP-113).
//
// v1 only moved throttling after the response; v2 is flexible; v3 adds a
// top-level error code; v4 the total and usable bytes of each directory's
// volume (KIP-827); v5 whether a directory is cordoned (KIP-1066), which
// Spool never does.
//
// Spool has one log directory, the broker's data directory. Each hosted
// partition reports its size on disk and its offset lag, which as in Kafka
// is how far this replica's log end is behind the partition's high
// watermark (always 0 on the leader). Replicas are never moved between
// directories, so no partition is a "future" replica.

import (
	"context"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/storage"
)

func handleDescribeLogDirs(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.DescribeLogDirsRequest) *kmsg.DescribeLogDirsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	if h.Config != nil {
		dir.Dir = h.Config.DataDir
		if abs, err := filepath.Abs(h.Config.DataDir); err == nil {
			dir.Dir = abs
		}
		if total, usable, ok := diskSpace(dir.Dir); ok {
			dir.TotalBytes, dir.UsableBytes = total, usable
		}
	}

	var parts []*partition.Partition
	if req.Topics == nil {
		// A null topic list asks for every partition.
		parts = h.Partitions.All()
	} else {
		seen := make(map[storage.TopicPartition]bool)
		for _, rt := range req.Topics {
			for _, index := range rt.Partitions {
				tp := storage.TopicPartition{Topic: rt.Topic, Partition: index}
				if seen[tp] {
					continue
				}
				seen[tp] = true
				// Partitions not hosted here are left out, as in Kafka.
				if p := h.Partitions.Get(rt.Topic, index); p != nil {
					parts = append(parts, p)
				}
			}
		}
	}

	topicIndex := make(map[string]int)
	for _, p := range parts {
		tp := p.TopicPartition()
		i, ok := topicIndex[tp.Topic]
		if !ok {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = tp.Topic
			dir.Topics = append(dir.Topics, t)
			i = len(dir.Topics) - 1
			topicIndex[tp.Topic] = i
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = tp.Partition
		dp.Size = p.Log().Size()
		dp.OffsetLag = max(p.HighWatermark()-p.LogEndOffset(), 0)
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, dp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}
