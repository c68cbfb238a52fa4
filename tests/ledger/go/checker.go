// Command checker cross-checks the Python ledger's formats with Go's golang.org/x/mod/sumdb:
// the signed checkpoint with sumdb/note, the tree hashes, stored-hash layout and proofs with
// sumdb/tlog. It reads one JSON document on stdin and exits non-zero naming the first mismatch.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Path  []string `json:"path"`
}

type input struct {
	Vkey        string            `json:"vkey"`
	Checkpoint  string            `json:"checkpoint"`
	Leaves      []string          `json:"leaves"`
	Roots       map[string]string `json:"roots"`
	Inclusion   []proof           `json:"inclusion"`
	Consistency []proof           `json:"consistency"`
	Stored      [][3]int64        `json:"stored"`
}

type memory map[int64]tlog.Hash

func (m memory) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m[x]
		if !ok {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "MISMATCH: "+format+"\n", args...)
	os.Exit(1)
}

func hashes(hexes []string) []tlog.Hash {
	out := make([]tlog.Hash, len(hexes))
	for i, s := range hexes {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			fail("bad hash %q", s)
		}
		copy(out[i][:], b)
	}
	return out
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("reading input: %v", err)
	}
	verifier, err := note.NewVerifier(in.Vkey)
	if err != nil {
		fail("vkey: %v", err)
	}
	n, err := note.Open([]byte(in.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	// C2SP tlog-checkpoint is sumdb's tree note with the log's origin as its first line:
	// swap in sumdb's fixed first line and let tlog.ParseTree check size and root strictly.
	origin, rest, found := strings.Cut(n.Text, "\n")
	if !found || origin == "" {
		fail("checkpoint body has no origin line")
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil {
		fail("checkpoint body: %v", err)
	}
	store := memory{}
	for i, leaf64 := range in.Leaves {
		leaf, err := base64.StdEncoding.DecodeString(leaf64)
		if err != nil {
			fail("leaf %d: %v", i, err)
		}
		added, err := tlog.StoredHashes(int64(i), leaf, store)
		if err != nil {
			fail("stored hashes %d: %v", i, err)
		}
		for j, h := range added {
			store[tlog.StoredHashCount(int64(i))+int64(j)] = h
		}
	}
	for _, s := range in.Stored {
		if got := tlog.StoredHashIndex(int(s[0]), s[1]); got != s[2] {
			fail("StoredHashIndex(%d, %d) = %d, python says %d", s[0], s[1], got, s[2])
		}
	}
	root, err := tlog.TreeHash(tree.N, store)
	if err != nil || root != tree.Hash {
		fail("checkpoint root %v != tlog tree hash %v (%v)", tree.Hash, root, err)
	}
	for size, want := range in.Roots {
		var sz int64
		fmt.Sscan(size, &sz)
		got, err := tlog.TreeHash(sz, store)
		if err != nil || got.String() != tlog.Hash(hashes([]string{want})[0]).String() {
			fail("root of size %d: tlog %v, python %s", sz, got, want)
		}
	}
	for _, p := range in.Inclusion {
		th, _ := tlog.TreeHash(p.Size, store)
		path := tlog.RecordProof(hashes(p.Path))
		if err := tlog.CheckRecord(path, p.Size, th, p.Index, store[tlog.StoredHashIndex(0, p.Index)]); err != nil {
			fail("inclusion %d in %d: %v", p.Index, p.Size, err)
		}
		mine, _ := tlog.ProveRecord(p.Size, p.Index, store)
		if fmt.Sprint(mine) != fmt.Sprint(path) {
			fail("inclusion %d in %d: tlog path differs", p.Index, p.Size)
		}
	}
	for _, p := range in.Consistency {
		oldHash, _ := tlog.TreeHash(p.From, store)
		newHash, _ := tlog.TreeHash(p.To, store)
		path := tlog.TreeProof(hashes(p.Path))
		if err := tlog.CheckTree(path, p.To, newHash, p.From, oldHash); err != nil {
			fail("consistency %d to %d: %v", p.From, p.To, err)
		}
		mine, _ := tlog.ProveTree(p.To, p.From, store)
		if fmt.Sprint(mine) != fmt.Sprint(path) {
			fail("consistency %d to %d: tlog proof differs", p.From, p.To)
		}
	}
	fmt.Printf("ok: %s size %d, %d inclusion and %d consistency proofs agree\n",
		verifier.Name(), tree.N, len(in.Inclusion), len(in.Consistency))
}
