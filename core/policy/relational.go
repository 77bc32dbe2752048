package policy

import (
	"maps"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/session"
)

// World is what a policy may consult beyond the row it judges: the other
// rows, as the evaluation's caller sees them (the server's committed rows,
// plus those a batch has staged before the write being checked).
type World interface {
	// Row returns the live row id of table, or nil.
	Row(table, id string) expr.Row
	// Each calls fn with the live rows of table whose column col equals v
	// (every live row when col is ""), until fn returns false. The rows
	// are checked again by the caller, so an implementation may pass more.
	Each(table, col string, v any, fn func(expr.Row) bool)
}

// Checker evaluates one session's policies against one state of a World.
// It remembers what it decided about the rows relations led it to, so a
// scan of 10k todos of 100 projects judges each project once: use one
// checker per read or write, never across a change of the World.
type Checker struct {
	set   Set
	sess  *session.Session
	world World
	// hops counts, per relation (table.via), the allowedTo checks in
	// progress, bounding chains and ending cycles.
	hops  map[string]int
	total int
	// cut counts the checks denied for depth: a verdict reached under one
	// is not remembered, since a shorter path to the same row may allow it.
	cut  int
	memo map[verdictKey]verdict
}

// verdict is a remembered decision with the depth budget it was reached
// under: reached without a cut, it holds wherever at least that budget is
// left (more budget never cuts more), and only there.
type verdict struct {
	ok    bool
	hops  map[string]int
	total int
}

// within reports whether the checks in progress leave at least v's budget.
func (c *Checker) within(v verdict) bool {
	if c.total > v.total {
		return false
	}
	for k, n := range c.hops {
		if n > v.hops[k] {
			return false
		}
	}
	return true
}

type verdictKey struct {
	table, id, action string
}

// maxHops bounds a whole chain of allowedTo, whatever its relations.
const maxHops = expr.MaxDepthCap

// Checker starts an evaluation for sess over w (nil: allowedTo and exists
// deny).
func (s Set) Checker(sess *session.Session, w World) *Checker {
	return &Checker{set: s, sess: sess, world: w}
}

func (c *Checker) eval(e *expr.Expr, row expr.Row) bool {
	if c.world == nil {
		return e.EvalIn(row, nil, c.sess, nil)
	}
	return e.EvalIn(row, nil, c.sess, c)
}

// AllowedTo implements expr.Env: the row e.Via leads to must exist and be
// allowed e.Action by its own table's policy. For update that is the row
// as it stands passing both the old-row and new-row conditions (an update
// that changes nothing), as $canEdit asks.
func (c *Checker) AllowedTo(e *expr.Expr, row expr.Row) bool {
	v, _ := row.Get(e.Via)
	id, _ := v.(string)
	if id == "" || e.Target == "" {
		return false
	}
	target := c.world.Row(e.Target, id)
	if target == nil {
		return false
	}
	key := verdictKey{e.Target, id, e.Action}
	if v, seen := c.memo[key]; seen && c.within(v) {
		return v.ok
	}
	limit := e.MaxDepth
	if limit == 0 {
		limit = expr.DefaultMaxDepth
	}
	hop := e.Target + "." + e.Via
	if c.hops == nil {
		c.hops = map[string]int{}
	}
	if c.hops[hop] >= limit || c.total >= maxHops {
		c.cut++
		return false
	}
	cut, entry := c.cut, verdict{hops: maps.Clone(c.hops), total: c.total}
	c.hops[hop]++
	c.total++
	ok := c.allows(e.Target, e.Action, target)
	c.hops[hop]--
	c.total--
	if c.cut == cut {
		if c.memo == nil {
			c.memo = map[verdictKey]verdict{}
		}
		entry.ok = ok
		c.memo[key] = entry
	}
	return ok
}

func (c *Checker) allows(table, action string, row expr.Row) bool {
	t := c.set[table]
	if t == nil {
		return false
	}
	switch Operation(action) {
	case Read:
		return t.Read != nil && c.eval(t.Read, row)
	case Insert:
		return t.Insert != nil && c.eval(t.Insert, row)
	case Update:
		if t.UpdateOld == nil && t.UpdateNew == nil {
			return false
		}
		return (t.UpdateOld == nil || c.eval(t.UpdateOld, row)) && (t.UpdateNew == nil || c.eval(t.UpdateNew, row))
	case Delete:
		return t.Delete != nil && c.eval(t.Delete, row)
	}
	return false
}

// Exists implements expr.Env: some live row of e.Table satisfies e's
// condition, row being its outer row. Every row counts, readable by the
// session or not: the server judges with all of them (a client, which
// holds only what it may read, judges with those).
func (c *Checker) Exists(e *expr.Expr, row expr.Row) bool {
	cond := e.Args[0]
	col, key, indexed := cond.KeyTerm()
	var v any
	if indexed {
		var ok bool
		if v, ok = key.Resolve(nil, row, c.sess); !ok || v == nil {
			return false // a null key matches nothing
		}
		if col == "id" {
			id, _ := v.(string)
			cand := c.world.Row(e.Table, id)
			return cand != nil && cond.EvalIn(cand, row, c.sess, c)
		}
	} else {
		col = ""
	}
	found := false
	c.world.Each(e.Table, col, v, func(cand expr.Row) bool {
		found = cond.EvalIn(cand, row, c.sess, c)
		return !found
	})
	return found
}

// Deps returns the tables whose rows can change what the policy of op on
// table decides (besides the judged row itself): those its allowedTo lead
// to, those its exists look in, and theirs in turn. A live read must be
// checked again when one of them changes.
func (s Set) Deps(table string, op Operation) map[string]bool {
	out := map[string]bool{}
	seen := map[string]bool{}
	var visit func(table string, op Operation)
	visitExpr := func(e *expr.Expr) {
		e.Walk(func(n *expr.Expr) {
			switch n.Op {
			case expr.OpAllowedTo:
				if n.Target != "" {
					out[n.Target] = true
					visit(n.Target, Operation(n.Action))
				}
			case expr.OpExists:
				out[n.Table] = true
			}
		})
	}
	visit = func(table string, op Operation) {
		k := table + "\x00" + string(op)
		if seen[k] {
			return
		}
		seen[k] = true
		t := s[table]
		if t == nil {
			return
		}
		switch op {
		case Read:
			visitExpr(t.Read)
		case Insert:
			visitExpr(t.Insert)
		case Update:
			visitExpr(t.UpdateOld)
			visitExpr(t.UpdateNew)
		case Delete:
			visitExpr(t.Delete)
		}
	}
	visit(table, op)
	return out
}
