package slurm

import (
	"strings"
)

// kind is what a sacct field's values look like. Knowing it for every field sacct
// prints (not only those Parsimony reads) lets the reader recognise a header by its
// names and place a delimiter that a job name carries: a placement that puts a word
// into a size, a date or a node list is wrong.
type kind uint8

const (
	kindText     kind = iota // anything: names, paths, comments
	kindFree                 // free text a user writes, which may hold the delimiter
	kindWord                 // a name without blanks: user, account, partition, node
	kindID                   // a job or step id: 123, 123_4, 123_[1-3], 125+0, 123.batch
	kindCount                // a non-negative integer
	kindSize                 // bytes with an optional K/M/G/T/P suffix (and ReqMem's n/c)
	kindDuration             // [DD-[HH:]]MM:SS[.mmm], UNLIMITED, Partition_Limit
	kindDate                 // ISO local time, epoch seconds, Unknown, None
	kindState                // COMPLETED, CANCELLED by 123, RUNNING+…
	kindTRES                 // name=value,… (allocation or usage)
	kindNodeList             // node[01-04],gpu3 or "None assigned"
	kindExit                 // N:M
	kindNumber               // a decimal number (a frequency, energy, a float)
)

// catalog is every field of `sacct --helpformat` (Slurm 20.11–24.11), lower-cased,
// with its kind.
var catalog = map[string]kind{
	"account": kindWord, "admincomment": kindFree, "alloccpus": kindCount, "allocnodes": kindCount,
	"alloctres": kindTRES, "associd": kindCount, "avecpu": kindDuration, "avecpufreq": kindSize,
	"avediskread": kindSize, "avediskwrite": kindSize, "avepages": kindSize, "averss": kindSize,
	"avevmsize": kindSize, "blockid": kindText, "cluster": kindWord, "comment": kindFree,
	"constraints": kindFree, "consumedenergy": kindSize, "consumedenergyraw": kindCount,
	"container": kindFree, "cputime": kindDuration, "cputimeraw": kindCount, "dbindex": kindCount,
	"derivedexitcode": kindExit, "elapsed": kindDuration, "elapsedraw": kindCount, "eligible": kindDate,
	"end": kindDate, "exitcode": kindExit, "extra": kindFree, "failednode": kindWord, "flags": kindText,
	"gid": kindCount, "group": kindWord, "jobid": kindID, "jobidraw": kindID, "jobname": kindFree,
	"layout": kindWord, "licenses": kindText, "maxdiskread": kindSize, "maxdiskreadnode": kindWord,
	"maxdiskreadtask": kindCount, "maxdiskwrite": kindSize, "maxdiskwritenode": kindWord,
	"maxdiskwritetask": kindCount, "maxpages": kindSize, "maxpagesnode": kindWord, "maxpagestask": kindCount,
	"maxrss": kindSize, "maxrssnode": kindWord, "maxrsstask": kindCount, "maxvmsize": kindSize,
	"maxvmsizenode": kindWord, "maxvmsizetask": kindCount, "mcslabel": kindText, "mincpu": kindDuration,
	"mincpunode": kindWord, "mincputask": kindCount, "ncpus": kindCount, "nnodes": kindCount,
	"nodelist": kindNodeList, "ntasks": kindCount, "partition": kindWord, "planned": kindDuration,
	"plannedcpu": kindDuration, "plannedcpuraw": kindCount, "priority": kindCount, "qos": kindWord,
	"qosraw": kindCount, "qosreq": kindWord, "reason": kindFree, "reqcpufreq": kindText,
	"reqcpufreqgov": kindText, "reqcpufreqmax": kindText, "reqcpufreqmin": kindText, "reqcpus": kindCount,
	"reqmem": kindSize, "reqnodes": kindCount, "reqtres": kindTRES, "reservation": kindWord,
	"reservationid": kindCount, "reserved": kindDuration, "restarts": kindCount, "start": kindDate,
	"state": kindState, "stdin": kindFree, "stdout": kindFree, "stderr": kindFree, "submit": kindDate,
	"submitline": kindFree, "suspended": kindDuration, "systemcomment": kindFree, "systemcpu": kindDuration,
	"timelimit": kindDuration, "timelimitraw": kindText, "totalcpu": kindDuration,
	"tresusageinave": kindTRES, "tresusageinmax": kindTRES, "tresusageinmaxnode": kindTRES,
	"tresusageinmaxtask": kindTRES, "tresusageinmin": kindTRES, "tresusageinminnode": kindTRES,
	"tresusageinmintask": kindTRES, "tresusageintot": kindTRES, "tresusageoutave": kindTRES,
	"tresusageoutmax": kindTRES, "tresusageoutmaxnode": kindTRES, "tresusageoutmaxtask": kindTRES,
	"tresusageoutmin": kindTRES, "tresusageoutminnode": kindTRES, "tresusageoutmintask": kindTRES,
	"tresusageouttot": kindTRES, "uid": kindCount, "user": kindWord, "usercpu": kindDuration,
	"wckey": kindWord, "wckeyid": kindCount, "workdir": kindFree,
}

// fieldKey is how a header or --format names a field: case does not matter, and
// --format's width suffix (JobName%30) is not part of the name.
func fieldKey(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.IndexByte(name, '%'); i >= 0 {
		name = name[:i]
	}
	return strings.ToLower(name)
}

// isFieldName says whether s is one of sacct's field names.
func isFieldName(s string) bool {
	_, ok := catalog[fieldKey(s)]
	return ok
}

// valid says whether v reads as a value of kind k. Empty is always valid: sacct
// leaves fields empty on steps and for jobs that never ran.
func (k kind) valid(v string) bool {
	if v == "" {
		return true
	}
	switch k {
	case kindWord:
		return !strings.ContainsAny(v, " \t")
	case kindID:
		return v[0] >= '0' && v[0] <= '9' && !strings.ContainsAny(v, " \t")
	case kindCount:
		return digits(v)
	case kindSize:
		_, _, err := ParseSize(v)
		return err == nil || v == "None" || v == "Unknown"
	case kindDuration:
		_, err := ParseDuration(v)
		return err == nil || v == "None" || v == "Unknown"
	case kindDate:
		return timeLike(v)
	case kindState:
		return stateLike(v)
	case kindTRES:
		return tresLike(v)
	case kindNodeList:
		return v == "None assigned" || !strings.ContainsAny(v, " \t")
	case kindExit:
		a, b, ok := strings.Cut(v, ":")
		return ok && digits(a) && digits(b)
	case kindNumber:
		_, _, err := ParseSize(v)
		return err == nil
	}
	return true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func timeLike(s string) bool {
	switch {
	case s == "" || s == "None" || s == "Unknown" || digits(s):
		return true
	case len(s) == 19 && s[4] == '-' && s[10] == 'T' && s[13] == ':':
		return true
	}
	return false
}

// stateLike: an upper-case state, with sacct's "CANCELLED by UID" or "+" decoration.
func stateLike(s string) bool {
	if rest, ok := strings.CutPrefix(s, "CANCELLED by "); ok {
		return digits(rest)
	}
	s = baseState(s)
	if s == "" || len(s) != len(strings.TrimRight(s, " ")) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// tresLike: a list of name=value with names without blanks. Usage lists carry
// durations and sizes as values, so values are only checked for blanks.
func tresLike(s string) bool {
	if s == "None" {
		return true
	}
	for _, item := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(item, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") || strings.ContainsAny(val, " \t") {
			return false
		}
	}
	return true
}
