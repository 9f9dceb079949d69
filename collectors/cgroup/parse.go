package cgroup

import (
	"bytes"
	"errors"
	"fmt"
)

// The cgroup files' formats (cgroup-v2.rst and the v1 controllers' docs):
// pure parsers, fuzzed in fuzz_test.go.

// parseCPUStat returns cpu.stat's usage_usec; other keys (user_usec,
// nr_throttled, ones a newer kernel adds) are ignored.
func parseCPUStat(data []byte) (uint64, error) {
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		key, value, ok := bytes.Cut(line, []byte{' '})
		if !ok || string(key) != "usage_usec" {
			continue
		}
		v, err := parseUintBytes(bytes.TrimSpace(value))
		if err != nil {
			return 0, fmt.Errorf("usage_usec: %w", err)
		}
		return v, nil
	}
	return 0, errors.New("no usage_usec")
}

// parseIOStat parses io.stat: one line per device,
//
//	8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0
//
// keeping rbytes and wbytes; other keys are ignored.
func parseIOStat(data []byte) (map[string]IOBytes, error) {
	out := map[string]IOBytes{}
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dev, rest, _ := bytes.Cut(line, []byte{' '})
		if _, _, ok := bytes.Cut(dev, []byte{':'}); !ok {
			return nil, fmt.Errorf("device %q is not MAJ:MIN", dev)
		}
		var b IOBytes
		for len(rest) > 0 {
			var field []byte
			field, rest, _ = bytes.Cut(rest, []byte{' '})
			if len(field) == 0 {
				continue
			}
			key, value, ok := bytes.Cut(field, []byte{'='})
			if !ok {
				return nil, fmt.Errorf("device %s: field %q is not key=value", dev, field)
			}
			switch string(key) {
			case "rbytes", "wbytes":
				v, err := parseUintBytes(value)
				if err != nil {
					return nil, fmt.Errorf("device %s: %s: %w", dev, key, err)
				}
				if key[0] == 'r' {
					b.Read = v
				} else {
					b.Write = v
				}
			}
		}
		out[string(dev)] = b
	}
	return out, nil
}

// parseCPUMax parses cpu.max, "$MAX $PERIOD" in microseconds ("max 100000"
// when unlimited), into cores allowed: 0 for unlimited.
func parseCPUMax(data []byte) (float64, error) {
	quota, period, _ := bytes.Cut(bytes.TrimSpace(data), []byte{' '})
	if string(quota) == "max" {
		return 0, nil
	}
	q, err := parseUintBytes(quota)
	if err != nil {
		return 0, fmt.Errorf("quota: %w", err)
	}
	p, err := parseUintBytes(bytes.TrimSpace(period))
	if err != nil {
		return 0, fmt.Errorf("period: %w", err)
	}
	if p == 0 {
		return 0, errors.New("period 0")
	}
	return float64(q) / float64(p), nil
}

// parseValue parses a file holding one number, or "max" (unlimited is true).
func parseValue(data []byte) (v uint64, unlimited bool, err error) {
	data = bytes.TrimSpace(data)
	if string(data) == "max" {
		return 0, true, nil
	}
	v, err = parseUintBytes(data)
	return v, false, err
}

// parseInt parses a file holding one signed number (cfs_quota_us is -1 when
// unlimited).
func parseInt(data []byte) (int64, error) {
	data = bytes.TrimSpace(data)
	neg := len(data) > 0 && data[0] == '-'
	if neg {
		data = data[1:]
	}
	v, err := parseUintBytes(data)
	if err != nil {
		return 0, err
	}
	if v > 1<<63-1 {
		return 0, fmt.Errorf("%d out of range", v)
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// parseUintBytes is strconv.ParseUint(string(b), 10, 64) without the copy.
func parseUintBytes(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", b)
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("%q out of range", b)
		}
		v = v*10 + d
	}
	return v, nil
}

func cutLine(data []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(data, []byte{'\n'})
	return line, rest
}
