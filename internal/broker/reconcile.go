package broker

import (
	"context"
	"slices"
	"time"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/storage"
)

// watchMetadata reconciles local replicas whenever the metadata image
// changes.
func (b *Broker) watchMetadata(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.ctrl.Updates():
			b.syncReplicas()
		}
	}
}

// syncReplicas makes the local replicas match the metadata image: it opens
// or creates the replicas this node hosts, applies config changes, hands
// roles and epochs to the replication manager (which starts and stops
// follower fetchers), and deletes replicas of topics that are gone (or were deleted and
// recreated under the same name, which the topic id reveals).
func (b *Broker) syncReplicas() {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	img := b.ctrl.Image()

	wanted := make(map[storage.TopicPartition]bool)
	for _, t := range img.Topics() {
		cfg, err := config.ResolveTopicConfig(t.Configs, b.cfg.TopicDefaults)
		if err != nil {
			b.log.Error("topic has an invalid config; its replicas are not opened", "topic", t.Name, "err", err)
			continue
		}
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, b.cfg.NodeID) {
				continue
			}
			tp := storage.TopicPartition{Topic: t.Name, Partition: p.Index}
			wanted[tp] = true
			b.ensureReplica(tp, t.ID, p, cfg)
		}
	}
	// Roles, epochs and fetchers follow the image before replicas that are
	// no longer wanted are closed, so no fetcher writes to a closed log.
	if b.repl != nil {
		b.repl.Reconcile(img)
	}
	for _, p := range b.parts.All() {
		if !wanted[p.TopicPartition()] {
			b.dropReplica(p.TopicPartition())
		}
	}
	// Logs on disk that no replica claims belong to deleted topics.
	for _, l := range b.store.Logs() {
		if tp := l.TopicPartition(); !wanted[tp] {
			b.dropReplica(tp)
		}
	}
	if b.groups != nil {
		b.groups.Reconcile(img, b.parts)
	}
	if b.txns != nil {
		b.txns.Reconcile(img, b.parts)
	}
}

func (b *Broker) ensureReplica(tp storage.TopicPartition, topicID [16]byte, meta controller.Partition, cfg config.TopicConfig) {
	if p := b.parts.Get(tp.Topic, tp.Partition); p != nil {
		if p.TopicID() == topicID {
			if p.Config() != cfg {
				p.SetConfig(cfg)
			}
			return
		}
		b.dropReplica(tp)
	}
	if l := b.store.Get(tp); l != nil && l.TopicID() != topicID {
		b.dropReplica(tp)
	}
	l, err := b.store.GetOrCreate(tp, topicID, partition.LogConfig(cfg))
	if err != nil {
		b.log.Error("opening replica failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		return
	}
	l.SetConfig(partition.LogConfig(cfg))
	b.parts.Put(partition.New(l, topicID, cfg, meta.LeaderEpoch, b.partOpts))
}

func (b *Broker) dropReplica(tp storage.TopicPartition) {
	b.parts.Remove(tp)
	if b.store.Get(tp) == nil {
		return
	}
	if err := b.store.Delete(tp); err != nil {
		b.log.Error("deleting replica failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		return
	}
	b.log.Info("deleted replica", "topic", tp.Topic, "partition", tp.Partition)
}

// maintain runs the periodic work: retention, recovery-point and
// high-watermark checkpoints, delayed segment file deletion, log cleaning
// (compaction) and, in periodic-flush mode, the flush that makes data
// durable.
func (b *Broker) maintain(ctx context.Context) {
	every := func(ms int64) *time.Ticker { return time.NewTicker(time.Duration(max(ms, 10)) * time.Millisecond) }
	retention := every(b.cfg.RetentionCheckIntervalMs)
	checkpoint := every(b.cfg.CheckpointIntervalMs)
	hwmCheckpoint := every(b.cfg.HWMCheckpointIntervalMs)
	defer hwmCheckpoint.Stop()
	// Delayed segment deletions (file.delete.delay.ms) are checked every
	// second: the delay is a lower bound, a second late is fine.
	deleteFiles := every(1000)
	defer deleteFiles.Stop()
	clean := every(b.cfg.CleanerBackoffMs)
	producers := every(b.cfg.ProducerIDExpirationCheckIntervalMs)
	defer producers.Stop()
	defer retention.Stop()
	defer checkpoint.Stop()
	defer clean.Stop()
	var flush <-chan time.Time
	if b.partOpts.Durability == partition.PeriodicFlush {
		t := every(b.cfg.FlushIntervalMs)
		defer t.Stop()
		flush = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-retention.C:
			if err := b.store.EnforceRetention(); err != nil {
				b.log.Error("retention failed", "err", err)
			}
		case <-checkpoint.C:
			if err := b.store.Checkpoint(); err != nil {
				b.log.Error("checkpoint failed", "err", err)
			}
		case <-hwmCheckpoint.C:
			if err := b.store.CheckpointHighWatermarks(); err != nil {
				b.log.Error("high watermark checkpoint failed", "err", err)
			}
		case <-deleteFiles.C:
			if err := b.store.RemoveDeletedFiles(); err != nil {
				b.log.Error("removing deleted segment files failed", "err", err)
			}
		case <-clean.C:
			if err := b.store.Clean(ctx); err != nil && ctx.Err() == nil {
				b.log.Error("log cleaning failed", "err", err)
			}
		case <-producers.C:
			n := 0
			for _, p := range b.parts.All() {
				n += p.ExpireProducers()
			}
			if n > 0 {
				b.log.Debug("expired idle producer ids", "count", n)
			}
		case <-flush:
			if err := b.store.FlushAll(); err != nil {
				b.log.Error("periodic flush failed", "err", err)
			}
			for _, p := range b.parts.All() {
				p.Flushed()
			}
		}
	}
}
