package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Ingest stores a batch in one transaction and says what became of each record.
//
// Records that cannot be stored (negative quantities, end before start, an unknown
// resource, text PostgreSQL cannot hold) go to quarantine with their raw input and the
// reason, as do the batch's Rejects. The rest are split into site-local days, their
// users and groups resolved through the mappings (unknown accounts land in the
// unassigned bucket, unknown user names become users), COPYed into a staging table
// and merged with set-based SQL:
//
//   - a record whose key is new is inserted;
//   - a record stored with the same content is left alone;
//   - a record stored with other content (a running job that ran on) has all its
//     earlier parts deleted and the new ones inserted,
//
// and the daily rollups move by exactly what was deleted and inserted. Running the
// same batch again therefore changes nothing, and a crash before the commit leaves
// nothing behind.
func (l *Ledger) Ingest(ctx context.Context, b Batch) (Counts, error) {
	var c Counts
	c.Read = int64(len(b.Records) + len(b.Rejects))

	rejects := make([]Reject, 0, len(b.Rejects))
	rejects = append(rejects, b.Rejects...)
	// Last one wins within a batch, as it would across batches.
	latest := make(map[naturalKey]int, len(b.Records))
	valid := make([]*Record, 0, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		r.normalise()
		if err := r.validate(); err != nil {
			rejects = append(rejects, Reject{Source: r.Source, Cluster: r.Cluster, Raw: r.rawText(), Reason: err.Error()})
			continue
		}
		k := r.key()
		if j, dup := latest[k]; dup {
			if valid[j].hash() == r.hash() {
				c.Unchanged++
			} else {
				c.Revised++
			}
			valid[j] = r
			continue
		}
		latest[k] = len(valid)
		valid = append(valid, r)
	}
	c.Quarantined = int64(len(rejects))

	rows := make([]stagedPart, 0, len(valid)+len(valid)/4)
	monthSet := map[time.Time]bool{}
	for _, r := range valid {
		h := r.hash()
		var attrs []byte
		if len(r.Attrs) > 0 {
			var err error
			if attrs, err = json.Marshal(r.Attrs); err != nil {
				return Counts{}, fmt.Errorf("encode attributes of %s: %w", r.ExternalID, err)
			}
		}
		for _, p := range splitDays(r, l.loc) {
			rows = append(rows, stagedPart{rec: r, part: p, hash: h, attrs: attrs})
			monthSet[monthStart(p.start, l.loc)] = true
		}
	}
	months := make([]time.Time, 0, len(monthSet))
	for m := range monthSet {
		months = append(months, m)
	}
	if err := l.ensurePartitions(ctx, months); err != nil {
		return Counts{}, err
	}

	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return fmt.Errorf("take ingest lock: %w", err)
		}
		if err := quarantine(ctx, tx, b.RunID, rejects); err != nil {
			return err
		}
		if len(valid) == 0 {
			return nil
		}
		unmapped, err := l.resolve(ctx, tx, valid, rows)
		if err != nil {
			return err
		}
		c.Unmapped = unmapped
		revised, unchanged, err := mergeParts(ctx, tx, b.RunID, rows)
		if err != nil {
			return err
		}
		c.Revised += revised
		c.Unchanged += unchanged
		c.Ingested = int64(len(valid)) - revised - unchanged
		return nil
	})
	if err != nil {
		return Counts{}, fmt.Errorf("ingest batch of %d records: %w", len(b.Records), err)
	}
	return c, nil
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

// stageColumns are the usage columns the staging table carries, in COPY order.
var stageColumns = []string{
	"source", "cluster", "external_id", "resource", "record_start", "record_end",
	"start_time", "end_time", "day", "quantity", "allocated", "used", "group_id", "user_id",
	"account", "username", "partition", "qos", "nodes", "job_name", "state", "attrs", "record_hash",
}

// partSource feeds staged parts to COPY without building a [][]any of the batch.
type partSource struct {
	rows []stagedPart
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
		r.Account, r.User, r.Partition, r.QoS, r.Nodes, r.JobName, r.State, attrs, p.hash)
	return s.vals, nil
}

// rollupDelta is the shared tail of every statement that moves rollups: it adds the
// signed sums of the rows of a CTE named "changed" (usage columns and a sign, +1 for
// rows that arrive, -1 for rows that leave) to rollup_daily. GROUP BY makes each key
// appear once, as ON CONFLICT DO UPDATE needs.
const rollupDelta = `
	INSERT INTO rollup_daily AS r (day, group_id, user_id, source, cluster, resource, partition, quantity, allocated, used, records)
	SELECT day, group_id, user_id, source, cluster, resource, partition,
	       sum(sign * quantity), sum(sign * allocated), sum(sign * used),
	       sum(sign * (start_time = record_start)::int)
	FROM (SELECT day, group_id, user_id, source, cluster, resource, partition,
	             quantity, allocated, used, start_time, record_start, sign FROM changed) c
	GROUP BY day, group_id, user_id, source, cluster, resource, partition
	ON CONFLICT ON CONSTRAINT rollup_daily_key DO UPDATE SET
	    quantity  = r.quantity  + excluded.quantity,
	    allocated = r.allocated + excluded.allocated,
	    used      = r.used      + excluded.used,
	    records   = r.records   + excluded.records`

// mergeParts COPYs the parts into staging and merges them into usage and rollups. It
// returns how many records were revised and how many were unchanged.
func mergeParts(ctx context.Context, tx pgx.Tx, runID int64, rows []stagedPart) (revised, unchanged int64, err error) {
	// Temporary tables live as long as the connection; ON COMMIT DELETE ROWS empties
	// them after each batch, so a pooled connection creates them once.
	if _, err := tx.Exec(ctx, `
		CREATE TEMP TABLE IF NOT EXISTS stage_usage (LIKE usage INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
		CREATE TEMP TABLE IF NOT EXISTS stage_existing (
			source text, cluster text, external_id text, resource text, record_start timestamptz,
			old_end timestamptz, old_hash bigint, new_hash bigint
		) ON COMMIT DELETE ROWS`); err != nil {
		return 0, 0, fmt.Errorf("create staging tables: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_usage"}, stageColumns, &partSource{rows: rows}); err != nil {
		return 0, 0, fmt.Errorf("copy into staging: %w", err)
	}
	// Statistics let the planner probe usage's unique index once per staged record
	// (a first part's start_time equals its record_start, so the probe names the
	// partition) instead of scanning usage.
	if _, err := tx.Exec(ctx, `ANALYZE stage_usage`); err != nil {
		return 0, 0, fmt.Errorf("analyze staging: %w", err)
	}
	// Which staged records are stored already, and as what?
	if _, err := tx.Exec(ctx, `
		INSERT INTO stage_existing
		SELECT s.source, s.cluster, s.external_id, s.resource, s.record_start, u.record_end, u.record_hash, s.record_hash
		FROM stage_usage s
		JOIN usage u ON u.source = s.source AND u.cluster = s.cluster AND u.external_id = s.external_id
		            AND u.resource = s.resource AND u.record_start = s.record_start
		            AND u.start_time = s.record_start
		WHERE s.start_time = s.record_start`); err != nil {
		return 0, 0, fmt.Errorf("find stored records: %w", err)
	}
	if err := tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE old_hash <> new_hash), count(*) FILTER (WHERE old_hash = new_hash)
		FROM stage_existing`).Scan(&revised, &unchanged); err != nil {
		return 0, 0, fmt.Errorf("count stored records: %w", err)
	}
	if revised > 0 {
		// The earlier version's parts lie between its start and its old end.
		if _, err := tx.Exec(ctx, `
			WITH changed AS (
				DELETE FROM usage u
				USING stage_existing e
				WHERE e.old_hash <> e.new_hash
				  AND u.source = e.source AND u.cluster = e.cluster AND u.external_id = e.external_id
				  AND u.resource = e.resource AND u.record_start = e.record_start
				  AND u.start_time BETWEEN e.record_start AND e.old_end
				RETURNING u.*, -1 AS sign
			)`+rollupDelta); err != nil {
			return 0, 0, fmt.Errorf("replace revised records: %w", err)
		}
	}
	insert := `
		WITH changed AS (
			INSERT INTO usage (` + joinColumns(stageColumns) + `, run_id)
			SELECT ` + joinColumns(prefixColumns("s.", stageColumns)) + `, $1
			FROM stage_usage s
			%s
			RETURNING *, 1 AS sign
		)` + rollupDelta
	skipUnchanged := ""
	if unchanged > 0 {
		skipUnchanged = `WHERE NOT EXISTS (
				SELECT 1 FROM stage_existing e
				WHERE e.old_hash = e.new_hash
				  AND e.source = s.source AND e.cluster = s.cluster AND e.external_id = s.external_id
				  AND e.resource = s.resource AND e.record_start = s.record_start)`
	}
	var run any
	if runID != 0 {
		run = runID
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(insert, skipUnchanged), run); err != nil {
		return 0, 0, fmt.Errorf("insert usage: %w", err)
	}
	return revised, unchanged, nil
}

// quarantine keeps input that could not become usage. The same raw text with the same
// reason is one row, however often it is read.
func quarantine(ctx context.Context, tx pgx.Tx, runID int64, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	sources := make([]string, len(rejects))
	clusters := make([]string, len(rejects))
	raws := make([]string, len(rejects))
	reasons := make([]string, len(rejects))
	hashes := make([][]byte, len(rejects))
	for i, r := range rejects {
		sources[i], clusters[i] = SafeText(r.Source), SafeText(r.Cluster)
		raws[i], reasons[i] = SafeText(r.Raw), SafeText(r.Reason)
		sum := sha256.Sum256([]byte(r.Raw))
		hashes[i] = sum[:]
	}
	var run any
	if runID != 0 {
		run = runID
	}
	// DISTINCT ON: one batch may carry the same bad line twice; ON CONFLICT may touch
	// a row only once per statement.
	_, err := tx.Exec(ctx, `
		INSERT INTO quarantine AS q (source, cluster, raw, reason, raw_hash, run_id, seen_count)
		SELECT DISTINCT ON (source, cluster, raw_hash, reason) source, cluster, raw, reason, raw_hash, $6,
		       count(*) OVER (PARTITION BY source, cluster, raw_hash, reason)
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) AS t(source, cluster, raw, reason, raw_hash)
		ON CONFLICT (source, cluster, raw_hash, reason) DO UPDATE SET
		    last_seen = now(), seen_count = q.seen_count + excluded.seen_count,
		    run_id = coalesce(excluded.run_id, q.run_id)`,
		sources, clusters, raws, reasons, hashes, run)
	if err != nil {
		return fmt.Errorf("quarantine %d rejected inputs: %w", len(rejects), err)
	}
	return nil
}

func joinColumns(cols []string) string {
	out := ""
	for i, c := range cols {
		if i > 0 {
			out += ", "
		}
		out += c
	}
	return out
}

func prefixColumns(prefix string, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = prefix + c
	}
	return out
}
