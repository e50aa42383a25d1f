package lrs

import (
	"encoding/json"
	"sync"
)

// mergeMemo remembers what the store already holds of agents and activity
// definitions, so a statement that only repeats them (nearly every one: the
// same students, the same lessons) skips reading, decoding and comparing
// their rows. Entries are added only after the transaction that made them
// true has committed; a stale miss just costs the read.
type mergeMemo struct {
	mu      sync.Mutex
	persons map[string]struct{} // personFact: these identifiers are in that Person
	acts    map[string]string   // activity id → a definition (JSON) that merges into the stored one without change
	// actsOn: definitions are remembered only where this process is the
	// one writer (SQLite, writes grouped in order). Persons only grow, so
	// what is remembered of them stays true with writers side by side.
	actsOn bool
}

// maxMemo bounds each map (some 200 bytes an entry: about 13 MB each when
// full); a full map starts over.
const maxMemo = 1 << 16

func newMergeMemo(actsOn bool) *mergeMemo {
	return &mergeMemo{persons: map[string]struct{}{}, acts: map[string]string{}, actsOn: actsOn}
}

// memoUpdates are what one batch would add to the memo once it commits.
type memoUpdates struct {
	persons []string
	acts    map[string]string
}

// personFact keys an agent's identifiers and name under its key.
func personFact(key string, a obj) string {
	b, _ := json.Marshal([]any{a["name"], a["mbox"], a["mbox_sha1sum"], a["openid"], a["account"]})
	return key + "\x00" + string(b)
}

func (m *mergeMemo) hasPerson(fact string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.persons[fact]
	return ok
}

// actUnchanged reports whether def (as JSON) is known to merge into the
// stored definition of id without change.
func (m *mergeMemo) actUnchanged(id, def string) bool {
	if !m.actsOn {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.acts[id]
	return ok && d == def
}

// forgetAct drops what is remembered of id: a transaction is changing it.
func (m *mergeMemo) forgetAct(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.acts, id)
}

// apply adds a committed batch's updates.
func (m *mergeMemo) apply(u *memoUpdates) {
	if len(u.persons) == 0 && len(u.acts) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.persons)+len(u.persons) > maxMemo {
		m.persons = map[string]struct{}{}
	}
	for _, f := range u.persons {
		m.persons[f] = struct{}{}
	}
	if !m.actsOn {
		return
	}
	if len(m.acts)+len(u.acts) > maxMemo {
		m.acts = map[string]string{}
	}
	for id, d := range u.acts {
		m.acts[id] = d
	}
}
