package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// ownerUID says whose a cgroup is: the UID in a systemd user-UID.slice on its
// path, else the owner of its first process (found once per cgroup and kept in
// owners while the cgroup lives), else -1, the host's own.
func (r *Reader) ownerUID(key cgroupKey, owners map[cgroupKey]int) int {
	if uid, ok := uidFromSlice(key.path); ok {
		return uid
	}
	if uid, ok := r.owners[key]; ok {
		owners[key] = uid
		return uid
	}
	uid := r.findOwner(key.path)
	if uid >= 0 {
		owners[key] = uid
	}
	return uid
}

// uidFromSlice finds systemd's user-UID.slice among a path's components.
func uidFromSlice(p string) (int, bool) {
	for p != "" {
		var comp string
		comp, p, _ = strings.Cut(strings.TrimPrefix(p, "/"), "/")
		digits, ok := strings.CutPrefix(comp, "user-")
		if !ok {
			continue
		}
		digits, ok = strings.CutSuffix(digits, ".slice")
		if !ok {
			continue
		}
		uid, err := strconv.Atoi(digits)
		if err == nil && uid >= 0 && uid <= 1<<31-1 {
			return uid, true
		}
	}
	return 0, false
}

// ownerSearchLimit bounds the cgroup directories looked into for a process
// (v2 keeps processes only in leaves, so a container's are a level or two down).
const ownerSearchLimit = 16

// findOwner returns the real UID of the first process in the cgroup or, if it
// has none, in its sub-cgroups (breadth first, a few directories at most), or
// -1 when there is none to read.
func (r *Reader) findOwner(rel string) int {
	base := r.h.Unified.Point
	if r.h.Version == 1 {
		base = r.h.CPUAcct.Point
	}
	queue := []string{base + rel}
	for looked := 0; len(queue) > 0 && looked < ownerSearchLimit; looked++ {
		dir := queue[0]
		queue = queue[1:]
		if data, err := r.readFile(dir + "/cgroup.procs"); err == nil {
			for len(data) > 0 {
				var line []byte
				line, data = cutLine(data)
				pid, err := parseUintBytes(line)
				if err != nil {
					continue
				}
				if uid, ok := r.processUID(pid); ok {
					return uid
				}
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				queue = append(queue, dir+"/"+e.Name())
			}
		}
	}
	return -1
}

// processUID reads the real UID from /proc/PID/status ("Uid:\t1000\t1000\t1000\t1000").
func (r *Reader) processUID(pid uint64) (int, bool) {
	data, err := r.readFile(r.cfg.Proc + "/" + strconv.FormatUint(pid, 10) + "/status")
	if err != nil {
		return 0, false
	}
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		rest, ok := strings.CutPrefix(string(line), "Uid:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		uid, err := strconv.Atoi(fields[0])
		if err != nil || uid < 0 {
			return 0, false
		}
		return uid, true
	}
	return 0, false
}

// identities resolves UIDs to a login and a primary group's name through NSS,
// caching answers (an LDAP round trip per cgroup per interval would be the
// agent's largest cost).
type identities struct {
	lookupUser  func(uid string) (*user.User, error)
	lookupGroup func(gid string) (*user.Group, error)
	cache       map[int]identity
}

type identity struct {
	login, group string
	at           time.Time
}

// identityTTL is how long an answer is kept, so a renamed login or a changed
// primary group shows within the hour; identityCacheMax bounds the cache on a
// host that sees many short-lived UIDs (containers).
const (
	identityTTL      = time.Hour
	identityCacheMax = 4096
)

func newIdentities(lookupUser func(string) (*user.User, error), lookupGroup func(string) (*user.Group, error)) *identities {
	return &identities{lookupUser: lookupUser, lookupGroup: lookupGroup, cache: map[int]identity{}}
}

// lookup returns uid's login and primary group's name. A UID or GID NSS does
// not know is named by its number; that answer is cached like any other. Any
// other NSS failure (a directory server away) returns the numbers and the
// error, and is not cached, so the next read asks again.
func (ids *identities) lookup(uid int, now time.Time) (login, group string, err error) {
	if c, ok := ids.cache[uid]; ok && now.Sub(c.at) < identityTTL && now.Sub(c.at) >= 0 {
		return c.login, c.group, nil
	}
	uidText := strconv.Itoa(uid)
	login, group = uidText, ""
	u, err := ids.lookupUser(uidText)
	var unknownUser user.UnknownUserIdError
	switch {
	case errors.As(err, &unknownUser):
		// No passwd entry: the UID stands for the user, with no group.
	case err != nil:
		return login, group, fmt.Errorf("looking up UID %d: %w", uid, err)
	default:
		login = u.Username
		group = u.Gid
		g, err := ids.lookupGroup(u.Gid)
		var unknownGroup user.UnknownGroupIdError
		switch {
		case errors.As(err, &unknownGroup):
		case err != nil:
			return login, group, fmt.Errorf("looking up GID %s of UID %d: %w", u.Gid, uid, err)
		default:
			group = g.Name
		}
	}
	if len(ids.cache) >= identityCacheMax {
		clear(ids.cache)
	}
	ids.cache[uid] = identity{login: login, group: group, at: now}
	return login, group, nil
}
