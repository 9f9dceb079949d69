package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ingest stores a batch in one transaction and says what became of each record.
//
// Records that cannot be stored (negative quantities, end before start, an unknown
// resource, text PostgreSQL cannot hold) go to quarantine with their raw input and the
// reason, as do the batch's Rejects. For the rest, one indexed lookup finds which are
// stored already and as what:
//
//   - a record stored with the same content is left alone;
//   - a record stored with other content (a running job that ran on) has all its
//     earlier parts deleted, and the rollups lose exactly what those parts held;
//   - new and revised records are split into site-local days, their users and groups
//     resolved through the mappings (unknown accounts land in the unassigned bucket,
//     unknown user names become users), COPYed into a staging table and inserted
//     with one set-based statement; their sums, added up here, are added to the
//     rollups with one upsert.
//
// Running the same batch again therefore changes nothing, and a crash before the
// commit leaves nothing behind.
//
// Batches of different sources and clusters are stored at the same time: each
// holds the ingest lock shared and an exclusive lock per (source, cluster) it
// writes (see lockStreams); rating, closing and re-mapping hold the ingest lock
// exclusively, so they wait for the batches in flight and see none half stored.
// A deadlock PostgreSQL breaks anyway (the lock orders below should leave none)
// rolls the batch back whole, and it is tried again.
func (l *Ledger) Ingest(ctx context.Context, b Batch) (Counts, error) {
	var c Counts
	c.Read = int64(len(b.Records) + len(b.Rejects))
	timer := newStepTimer()

	rejects := make([]Reject, 0, len(b.Rejects))
	rejects = append(rejects, b.Rejects...)
	// Last one wins within a batch, as it would across batches.
	latest := make(map[naturalKey]int, len(b.Records))
	valid := make([]*Record, 0, len(b.Records))
	hashes := make([]int64, 0, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		r.normalise()
		err := r.validate()
		if err == nil {
			err = r.checkSpan(l.maxSpan)
		}
		if err != nil {
			rejects = append(rejects, Reject{Source: r.Source, Cluster: r.Cluster, Raw: r.rawText(), Reason: err.Error()})
			continue
		}
		k, h := r.key(), r.hash()
		if j, dup := latest[k]; dup {
			if hashes[j] == h {
				c.Unchanged++
			} else {
				c.Revised++
			}
			valid[j], hashes[j] = r, h
			continue
		}
		latest[k] = len(valid)
		valid = append(valid, r)
		hashes = append(hashes, h)
	}
	c.Quarantined = int64(len(rejects))
	if err := l.ensurePartitions(ctx, l.monthsOf(valid)); err != nil {
		return Counts{}, err
	}
	streams := streamLockKeys(valid, rejects)
	timer.lap("validate")

	// A retried transaction starts again from the counts of validation.
	validated := c
	var err error
	for attempt := 1; ; attempt++ {
		c = validated
		err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
			return l.ingestInTx(ctx, tx, b.RunID, rejects, valid, hashes, streams, &c, timer)
		})
		if err == nil || attempt == maxIngestAttempts || !isRetryable(err) {
			break
		}
		l.log.Warn("ingest batch rolled back by PostgreSQL, trying it again", "attempt", attempt, "err", err)
	}
	if err != nil {
		return Counts{}, fmt.Errorf("ingest batch of %d records: %w", len(b.Records), err)
	}
	timer.lap("commit")
	l.log.Debug("ingested batch", "counts", c.String(), "steps", timer.String())
	return c, nil
}

// maxIngestAttempts bounds how often Ingest runs a batch's transaction when
// PostgreSQL rolls it back for a deadlock or a serialisation failure.
const maxIngestAttempts = 3

// ingestInTx stores the validated records and the rejects inside tx, adding what
// became of each record to c.
func (l *Ledger) ingestInTx(ctx context.Context, tx pgx.Tx, runID int64, rejects []Reject, valid []*Record,
	hashes []int64, streams []int32, c *Counts, timer *stepTimer) error {
	if err := lockStreams(ctx, tx, streams); err != nil {
		return err
	}
	if err := quarantine(ctx, tx, runID, rejects); err != nil {
		return err
	}
	if len(valid) == 0 {
		return nil
	}
	if err := createStagingTables(ctx, tx); err != nil {
		return err
	}
	stored, err := findStored(ctx, tx, valid)
	if err != nil {
		return err
	}
	timer.lap("find")
	var changed, revised []*Record
	var changedHashes []int64
	var oldEnds []time.Time
	for i, r := range valid {
		if old, ok := stored[i]; ok {
			if old.hash == hashes[i] {
				c.Unchanged++
				continue
			}
			revised = append(revised, r)
			oldEnds = append(oldEnds, old.end)
			c.Revised++
		} else {
			c.Ingested++
		}
		changed = append(changed, r)
		changedHashes = append(changedHashes, hashes[i])
	}
	if len(changed) == 0 {
		return nil
	}
	// Before the delete, whose trigger notes the old versions' months too: with
	// every month this batch touches inserted here, in order, the trigger finds
	// them all inserted by this transaction and never waits on another batch.
	if err := noteChangedMonths(ctx, tx, l.touchedMonths(changed, revised, oldEnds)); err != nil {
		return err
	}
	if len(revised) > 0 {
		if err := l.deleteRevised(ctx, tx, revised, oldEnds); err != nil {
			return err
		}
		timer.lap("delete revised")
	}
	rows, err := l.splitAll(changed, changedHashes)
	if err != nil {
		return err
	}
	unmapped, err := l.resolve(ctx, tx, changed, rows)
	if err != nil {
		return err
	}
	c.Unmapped = unmapped
	timer.lap("split and resolve")
	if err := insertParts(ctx, tx, runID, rows); err != nil {
		return err
	}
	timer.lap("insert")
	if err := addToRollups(ctx, tx, rows); err != nil {
		return err
	}
	timer.lap("rollups")
	return nil
}

// streamLockClass is the first key of the transaction-level advisory lock an
// ingest holds on each (source, cluster) it writes: the two-key form, with a class
// of its own, so it shares no key with the single-key ledger locks or the
// collector runs' locks (runLockClass).
const streamLockClass = 1347572590

// streamLockKeys are the second keys of the stream locks a batch needs, sorted
// and without repeats: a hash of each (source, cluster) of its records and of its
// rejects (quarantine rows are keyed by source and cluster too). Two streams that
// hash alike merely wait for each other.
func streamLockKeys(valid []*Record, rejects []Reject) []int32 {
	set := map[int32]bool{}
	add := func(source, cluster string) {
		h := fnv.New32a()
		h.Write([]byte(source))
		h.Write([]byte{0})
		h.Write([]byte(cluster))
		set[int32(h.Sum32())] = true
	}
	for _, r := range valid {
		add(r.Source, r.Cluster)
	}
	for _, r := range rejects {
		add(r.Source, r.Cluster)
	}
	keys := make([]int32, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// lockStreams takes the ingest lock shared, then each stream's lock, in the
// order of keys.
//
// Everything a batch writes is either keyed by its own sources and clusters —
// usage rows (the natural key starts with them), their rollups (rollup_daily's
// key holds them), quarantine rows — and so written by one batch at a time, or
// shared, and then written with upserts in one fixed order: the changed months
// (sorted, before anything else that can wait), then new users (sorted logins).
// A batch therefore waits only for locks taken in the same order by others and
// cannot deadlock with another batch.
//
// The shared ingest lock is what rating, closing and re-mapping take
// exclusively: they need usage and the rollups to hold still across streams. It
// comes first, so a batch never holds a stream while queued behind them.
func lockStreams(ctx context.Context, tx pgx.Tx, keys []int32) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, lockKey); err != nil {
		return fmt.Errorf("take ingest lock: %w", err)
	}
	for _, k := range keys {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, $2::int)`, streamLockClass, k); err != nil {
			return fmt.Errorf("take ingest lock of a source and cluster: %w", err)
		}
	}
	return nil
}

// touchedMonths lists, sorted, the local months the changed records hold usage in
// and those the earlier versions of the revised records (ending at oldEnds) held.
func (l *Ledger) touchedMonths(changed, revised []*Record, oldEnds []time.Time) []time.Time {
	recs := make([]*Record, 0, len(changed)+len(revised))
	recs = append(recs, changed...)
	for j, r := range revised {
		recs = append(recs, &Record{Start: r.Start, End: oldEnds[j]})
	}
	months := l.monthsOf(recs)
	slices.SortFunc(months, func(a, b time.Time) int { return a.Compare(b) })
	return months
}

// monthsOf lists the local months the records hold usage in, for their partitions.
// A record ending exactly at midnight on the 1st holds nothing in that month.
func (l *Ledger) monthsOf(recs []*Record) []time.Time {
	set := map[time.Time]bool{}
	for _, r := range recs {
		end := r.End
		if end.After(r.Start) {
			end = end.Add(-time.Nanosecond)
		}
		last := monthStart(end, l.loc)
		for m := monthStart(r.Start, l.loc); !m.After(last); m = time.Date(m.Year(), m.Month()+1, 1, 0, 0, 0, 0, l.loc) {
			set[m] = true
		}
	}
	months := make([]time.Time, 0, len(set))
	for m := range set {
		months = append(months, m)
	}
	return months
}

// noteChangedMonths records that usage of these local months changed, so that
// rating charges the difference for any of them that is closed (late usage). The
// months come sorted, and unnest keeps their order: batches inserting the same new
// months at once wait for each other in one order, never in a cycle.
func noteChangedMonths(ctx context.Context, tx pgx.Tx, months []time.Time) error {
	days := make([]string, len(months))
	for i, m := range months {
		days[i] = m.Format(time.DateOnly)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO usage_changed_months (month) SELECT unnest($1::date[]) ON CONFLICT DO NOTHING`, days)
	if err != nil {
		return fmt.Errorf("note changed months: %w", err)
	}
	return nil
}

// splitAll cuts the records into day parts, ready for staging.
func (l *Ledger) splitAll(recs []*Record, hashes []int64) ([]stagedPart, error) {
	rows := make([]stagedPart, 0, len(recs)+len(recs)/4)
	for i, r := range recs {
		var attrs []byte
		if len(r.Attrs) > 0 {
			var err error
			if attrs, err = json.Marshal(r.Attrs); err != nil {
				return nil, fmt.Errorf("encode attributes of %s: %w", r.ExternalID, err)
			}
		}
		for _, p := range splitDays(r, l.loc) {
			rows = append(rows, stagedPart{rec: r, part: p, hash: hashes[i], attrs: attrs})
		}
	}
	return rows, nil
}

// stagedPart is one row of the staging table: a day part of a record, with the
// record's resolved group and user.
type stagedPart struct {
	rec     *Record
	part    part
	hash    int64
	attrs   []byte
	groupID *int64
	userID  *int64
}

// resolve fills in each part's group and user from the mappings, creating users for
// source user names never seen before. It returns how many records are unassigned.
func (l *Ledger) resolve(ctx context.Context, tx pgx.Tx, valid []*Record, rows []stagedPart) (int64, error) {
	type ident struct{ kind, scope, identity string }
	groupOf := map[ident]int64{}
	userOf := map[ident]int64{}
	load := func(sql string, into map[ident]int64) error {
		rs, err := tx.Query(ctx, sql)
		if err != nil {
			return err
		}
		var k ident
		var id int64
		_, err = pgx.ForEachRow(rs, []any{&k.kind, &k.scope, &k.identity, &id}, func() error {
			into[k] = id
			return nil
		})
		return err
	}
	if err := load(`SELECT kind, scope, identity, group_id FROM group_mappings`, groupOf); err != nil {
		return 0, fmt.Errorf("load group mappings: %w", err)
	}
	if err := load(`SELECT kind, scope, identity, user_id FROM user_mappings`, userOf); err != nil {
		return 0, fmt.Errorf("load user mappings: %w", err)
	}
	lookup := func(m map[ident]int64, kind, scope, identity string) (int64, bool) {
		if id, ok := m[ident{kind, scope, identity}]; ok {
			return id, true
		}
		id, ok := m[ident{kind, "*", identity}]
		return id, ok
	}

	// Users: a mapping, else the login of the same name, else a new user.
	loginOf := map[*Record]string{}
	needed := map[string]bool{}
	for _, r := range valid {
		if r.User == "" {
			continue
		}
		kind, _ := MappingKind(r.Source)
		if _, ok := lookup(userOf, kind, r.Cluster, r.User); !ok {
			loginOf[r] = r.User
			needed[r.User] = true
		}
	}
	userIDs := map[string]int64{}
	if len(needed) > 0 {
		logins := make([]string, 0, len(needed))
		for name := range needed {
			logins = append(logins, name)
		}
		sort.Strings(logins)
		rs, err := tx.Query(ctx, `
			WITH created AS (
				INSERT INTO users (login, auto_created)
				SELECT login, true FROM unnest($1::text[]) AS login
				ON CONFLICT (login) DO NOTHING
				RETURNING id, login
			)
			SELECT id, login FROM created
			UNION ALL
			SELECT id, login FROM users WHERE login = ANY($1)`, logins)
		if err != nil {
			return 0, fmt.Errorf("resolve users: %w", err)
		}
		var id int64
		var login string
		if _, err := pgx.ForEachRow(rs, []any{&id, &login}, func() error {
			userIDs[login] = id
			return nil
		}); err != nil {
			return 0, fmt.Errorf("resolve users: %w", err)
		}
		// A login another batch created at the same time (its insert committed while
		// this one waited on it) is neither created here nor in this statement's
		// snapshot; a new statement sees it.
		var missing []string
		for _, name := range logins {
			if _, ok := userIDs[name]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			rs, err := tx.Query(ctx, `SELECT id, login FROM users WHERE login = ANY($1)`, missing)
			if err != nil {
				return 0, fmt.Errorf("resolve users created meanwhile: %w", err)
			}
			if _, err := pgx.ForEachRow(rs, []any{&id, &login}, func() error {
				userIDs[login] = id
				return nil
			}); err != nil {
				return 0, fmt.Errorf("resolve users created meanwhile: %w", err)
			}
			for _, name := range missing {
				if _, ok := userIDs[name]; !ok {
					return 0, fmt.Errorf("resolve users: login %q was neither created nor found", name)
				}
			}
		}
	}

	type resolved struct{ group, user *int64 }
	byRecord := make(map[*Record]resolved, len(valid))
	var unmapped int64
	for _, r := range valid {
		kind, _ := MappingKind(r.Source)
		var res resolved
		if id, ok := lookup(groupOf, kind, r.Cluster, r.Account); ok {
			res.group = &id
		} else {
			unmapped++
		}
		if r.User != "" {
			if id, ok := lookup(userOf, kind, r.Cluster, r.User); ok {
				res.user = &id
			} else if id, ok := userIDs[loginOf[r]]; ok {
				res.user = &id
			}
		}
		byRecord[r] = res
	}
	for i := range rows {
		res := byRecord[rows[i].rec]
		rows[i].groupID, rows[i].userID = res.group, res.user
	}
	return unmapped, nil
}

// stageColumns are the usage columns ingest writes, in COPY order (run_id follows).
var stageColumns = []string{
	"source", "cluster", "external_id", "resource", "record_start", "record_end",
	"start_time", "end_time", "day", "quantity", "allocated", "used", "group_id", "user_id",
	"account", "username", "partition", "qos", "nodes", "job_name", "state", "attrs", "record_hash",
}

// partSource feeds staged parts to COPY without building a [][]any of the batch.
type partSource struct {
	rows []stagedPart
	run  any // the run id, or nil
	i    int
	vals []any
}

func (s *partSource) Next() bool { s.i++; return s.i <= len(s.rows) }
func (s *partSource) Err() error { return nil }
func (s *partSource) Values() ([]any, error) {
	p := &s.rows[s.i-1]
	r := p.rec
	var attrs any
	if p.attrs != nil {
		attrs = p.attrs
	}
	var group, user any
	if p.groupID != nil {
		group = *p.groupID
	}
	if p.userID != nil {
		user = *p.userID
	}
	s.vals = append(s.vals[:0],
		r.Source, r.Cluster, r.ExternalID, r.Resource, r.Start, r.End,
		p.part.start, p.part.end, p.part.day, p.part.quantity, p.part.allocated, p.part.used, group, user,
		r.Account, r.User, r.Partition, r.QoS, r.Nodes, r.JobName, r.State, attrs, p.hash, s.run)
	return s.vals, nil
}

// createStagingTables makes the batch's temporary tables. They live as long as the
// connection; ON COMMIT DELETE ROWS empties them after each batch, so a pooled
// connection creates them once.
func createStagingTables(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
		CREATE TEMP TABLE IF NOT EXISTS stage_revised (
			source text, cluster text, external_id text, resource text, record_start timestamptz, start_time timestamptz
		) ON COMMIT DELETE ROWS;
		CREATE TEMP TABLE IF NOT EXISTS stage_rollup (
			day date, group_id bigint, user_id bigint, source text, cluster text, resource text, partition text,
			quantity numeric, allocated numeric, used numeric, records bigint
		) ON COMMIT DELETE ROWS`)
	if err != nil {
		return fmt.Errorf("create staging tables: %w", err)
	}
	return nil
}

// storedVersion is what the ledger holds of a record already.
type storedVersion struct {
	end  time.Time
	hash int64
}

// findStored looks up which records are stored already, by index into recs.
//
// First, per source and cluster, it reads the latest start_time stored (one descent
// of the natural-key index, which orders each source's rows by time). A record that
// starts after it cannot be stored: collectors read forward in time, so most of a
// fresh batch is settled without a lookup. Each remaining record costs one probe of
// the unique index for its first part (whose start_time equals record_start), which
// PostgreSQL prunes to one partition.
func findStored(ctx context.Context, tx pgx.Tx, recs []*Record) (map[int]storedVersion, error) {
	type stream struct{ source, cluster string }
	latest := map[stream]time.Time{}
	for _, r := range recs {
		latest[stream{r.Source, r.Cluster}] = time.Time{}
	}
	for s := range latest {
		var t time.Time
		// ORDER BY … LIMIT 1 rather than max(): on a partition not yet analysed the
		// planner takes max() for an aggregate over every row of the stream (the index
		// read whole, 30 ms at 100,000 rows), where this stays one backward descent
		// per partition.
		err := tx.QueryRow(ctx, `SELECT start_time FROM usage WHERE source = $1 AND cluster = $2 ORDER BY start_time DESC LIMIT 1`,
			s.source, s.cluster).Scan(&t)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("find latest stored usage of %s/%s: %w", s.source, s.cluster, err)
		}
		latest[s] = t
	}
	var index []int
	var sources, clusters, ids, resources []string
	var starts []time.Time
	for i, r := range recs {
		l := latest[stream{r.Source, r.Cluster}]
		if l.IsZero() || r.Start.After(l) {
			continue
		}
		index = append(index, i)
		sources, clusters = append(sources, r.Source), append(clusters, r.Cluster)
		ids, resources = append(ids, r.ExternalID), append(resources, r.Resource)
		starts = append(starts, r.Start)
	}
	stored := map[int]storedVersion{}
	if len(index) == 0 {
		return stored, nil
	}
	// LATERAL … LIMIT 1 makes each lookup an index probe whatever the planner thinks
	// of the array's size: a hash join would read every partition of usage.
	rows, err := tx.Query(ctx, `
		SELECT k.i, u.record_end, u.record_hash
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
		     WITH ORDINALITY AS k(source, cluster, external_id, resource, record_start, i)
		CROSS JOIN LATERAL (
			SELECT record_end, record_hash FROM usage u
			WHERE u.source = k.source AND u.cluster = k.cluster AND u.start_time = k.record_start
			  AND u.external_id = k.external_id AND u.resource = k.resource
			  AND u.record_start = k.record_start
			LIMIT 1
		) u`,
		sources, clusters, ids, resources, starts)
	if err != nil {
		return nil, fmt.Errorf("find stored records: %w", err)
	}
	var i int
	var v storedVersion
	if _, err := pgx.ForEachRow(rows, []any{&i, &v.end, &v.hash}, func() error {
		stored[index[i-1]] = v
		return nil
	}); err != nil {
		return nil, fmt.Errorf("find stored records: %w", err)
	}
	return stored, nil
}

// deleteRevised removes every part of the stored versions of revised records and
// takes them out of the rollups. The old parts' start times follow from the record's
// start and its old end (the same day split), so each is deleted by its exact key.
func (l *Ledger) deleteRevised(ctx context.Context, tx pgx.Tx, revised []*Record, oldEnds []time.Time) error {
	var rows [][]any
	for j, r := range revised {
		old := Record{Start: r.Start, End: oldEnds[j]}
		for _, p := range splitDays(&old, l.loc) {
			rows = append(rows, []any{r.Source, r.Cluster, r.ExternalID, r.Resource, r.Start, p.start})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_revised"},
		[]string{"source", "cluster", "external_id", "resource", "record_start", "start_time"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("stage revised records: %w", err)
	}
	// With statistics on the (usually small) staged set, the planner probes usage's
	// unique index per part instead of hashing a scan of every partition.
	if _, err := tx.Exec(ctx, `ANALYZE stage_revised`); err != nil {
		return fmt.Errorf("analyze revised records: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		WITH changed AS (
			DELETE FROM usage u
			USING stage_revised e
			WHERE u.source = e.source AND u.cluster = e.cluster AND u.start_time = e.start_time
			  AND u.external_id = e.external_id AND u.resource = e.resource AND u.record_start = e.record_start
			RETURNING u.*, -1 AS sign
		)`+rollupDelta); err != nil {
		return fmt.Errorf("remove earlier versions of revised records: %w", err)
	}
	return nil
}

// insertParts COPYs the parts straight into usage, which routes each to its monthly
// partition. A violated constraint aborts the COPY and with it the batch's
// transaction, so nothing half-copied can remain; the records were validated and
// classified as new (under the ingest lock) before, so none is expected.
func insertParts(ctx context.Context, tx pgx.Tx, runID int64, rows []stagedPart) error {
	var run any
	if runID != 0 {
		run = runID
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"usage"}, append(stageColumns, "run_id"), &partSource{rows: rows, run: run}); err != nil {
		return fmt.Errorf("copy into usage: %w", err)
	}
	return nil
}
