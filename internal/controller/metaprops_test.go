package controller

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetaProperties(t *testing.T) {
	dir := t.TempDir()
	if err := CheckMetaProperties(dir, 1); err != nil {
		t.Fatalf("check on a new directory: %v", err)
	}
	if _, ok, err := ReadMetaProperties(dir); ok || err != nil {
		t.Fatalf("read on a new directory: ok=%v err=%v", ok, err)
	}
	if err := WriteMetaProperties(dir, 1, "clusterA"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, MetaPropertiesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"version=1", "node.id=1", "cluster.id=clusterA"} {
		if !strings.Contains(string(data), line+"\n") {
			t.Errorf("meta.properties lacks %q:\n%s", line, data)
		}
	}
	mp, ok, err := ReadMetaProperties(dir)
	if err != nil || !ok || mp != (MetaProperties{Version: 1, NodeID: 1, ClusterID: "clusterA"}) {
		t.Fatalf("ReadMetaProperties = %+v, %v, %v", mp, ok, err)
	}
	if err := CheckMetaProperties(dir, 1); err != nil {
		t.Fatalf("check with the right node id: %v", err)
	}
	if err := WriteMetaProperties(dir, 1, "clusterA"); err != nil {
		t.Fatalf("rewrite with the same identity: %v", err)
	}
	if err := CheckMetaProperties(dir, 2); !errors.Is(err, ErrNodeIDMismatch) {
		t.Errorf("check with another node id = %v", err)
	}
	if err := WriteMetaProperties(dir, 2, "clusterA"); !errors.Is(err, ErrNodeIDMismatch) {
		t.Errorf("write with another node id = %v", err)
	}
	if err := WriteMetaProperties(dir, 1, "clusterB"); !errors.Is(err, ErrClusterIDMismatch) {
		t.Errorf("write with another cluster id = %v", err)
	}
	if err := WriteMetaProperties(t.TempDir(), 1, ""); !errors.Is(err, ErrInvalidMetaProperties) {
		t.Errorf("write with an empty cluster id = %v", err)
	}
}

func TestMetaPropertiesParsesKafkaFiles(t *testing.T) {
	dir := t.TempDir()
	kafka := "#\n#Thu Jan 01 00:00:00 UTC 2025\nnode.id=3\ndirectory.id=abc\nversion=1\ncluster.id = MkU3OEVBNTcwNTJENDM2Qk\n"
	if err := os.WriteFile(filepath.Join(dir, MetaPropertiesFile), []byte(kafka), 0o644); err != nil {
		t.Fatal(err)
	}
	mp, ok, err := ReadMetaProperties(dir)
	if err != nil || !ok || mp.NodeID != 3 || mp.ClusterID != "MkU3OEVBNTcwNTJENDM2Qk" {
		t.Fatalf("ReadMetaProperties = %+v, %v, %v", mp, ok, err)
	}
}

func TestMetaPropertiesRejectsBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"zookeeper version": "version=0\nbroker.id=1\ncluster.id=x\n",
		"no node id":        "version=1\ncluster.id=x\n",
		"bad node id":       "version=1\nnode.id=abc\ncluster.id=x\n",
		"no cluster id":     "version=1\nnode.id=1\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, MetaPropertiesFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := CheckMetaProperties(dir, 1); !errors.Is(err, ErrInvalidMetaProperties) {
			t.Errorf("%s: CheckMetaProperties = %v", name, err)
		}
	}
}
