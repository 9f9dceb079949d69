package usagebatch

import (
	"encoding/json"
	"strconv"
)

// The plain path: what agents send is a batch of plain records — known members,
// each once, strings without escapes, whole numbers — and reading those with
// encoding/json (the envelope, then each record again with a Decoder) took half
// the ingest API's CPU. splitPlain and plainRecord read exactly that subset of
// JSON by hand and say ok only when the input is inside it; anything else (an
// escape, null, attrs, an unknown or repeated member, a fraction or exponent, a
// number out of range) goes the strict encoding/json path as before. On the
// subset both paths give the same raws and the same records, so what the API
// accepts, refuses and says does not change.

// splitPlain is Split for a body that is exactly {"records": [plain records]}
// (JSON whitespace anywhere between tokens): each record's raw JSON, as a slice
// of body, from its '{' to its '}' as encoding/json's RawMessage has it.
func splitPlain(body []byte) ([]json.RawMessage, bool) {
	const key = `"records"`
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	if len(body)-i < len(key) || string(body[i:i+len(key)]) != key {
		return nil, false
	}
	i = skipSpace(body, i+len(key))
	if i >= len(body) || body[i] != ':' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	if i >= len(body) || body[i] != '[' {
		return nil, false
	}
	raws := make([]json.RawMessage, 0, len(body)/200)
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == ']' {
		i++
	} else {
		for {
			end, ok := plainRecord(body, i, nil)
			if !ok {
				return nil, false
			}
			raws = append(raws, body[i:end:end])
			i = skipSpace(body, end)
			if i >= len(body) {
				return nil, false
			}
			if body[i] == ']' {
				i++
				break
			}
			if body[i] != ',' {
				return nil, false
			}
			i = skipSpace(body, i+1)
		}
	}
	i = skipSpace(body, i)
	if i >= len(body) || body[i] != '}' {
		return nil, false
	}
	if skipSpace(body, i+1) != len(body) {
		return nil, false
	}
	return raws, true
}

// plainRecord reads the plain record starting at raw[i] ('{') into w, or only
// checks it when w is nil (Split: no strings are made), and returns the index
// after its '}'. ok is false when it is not a plain record; w is then partly
// filled.
func plainRecord(raw []byte, i int, w *wire) (end int, ok bool) {
	if i >= len(raw) || raw[i] != '{' {
		return 0, false
	}
	var seen uint32 // a bit per member, to refuse a repeated one
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	var scratch wire
	if w == nil {
		w = &scratch
	}
	for {
		a, b, ok := plainString(raw, i)
		if !ok {
			return 0, false
		}
		i = skipSpace(raw, b+1)
		if i >= len(raw) || raw[i] != ':' {
			return 0, false
		}
		i = skipSpace(raw, i+1)
		var bit uint32
		var text **string
		var whole **int64
		switch string(raw[a:b]) {
		case "source":
			bit, text = 1<<0, &w.Source
		case "cluster":
			bit, text = 1<<1, &w.Cluster
		case "external_id":
			bit, text = 1<<2, &w.ExternalID
		case "resource":
			bit, text = 1<<3, &w.Resource
		case "start":
			bit, text = 1<<4, &w.Start
		case "end":
			bit, text = 1<<5, &w.End
		case "user":
			bit, text = 1<<6, &w.User
		case "account":
			bit, text = 1<<7, &w.Account
		case "partition":
			bit, text = 1<<8, &w.Partition
		case "qos":
			bit, text = 1<<9, &w.QoS
		case "job_name":
			bit, text = 1<<10, &w.JobName
		case "state":
			bit, text = 1<<11, &w.State
		case "quantity":
			bit, whole = 1<<12, &w.Quantity
		case "allocated":
			bit, whole = 1<<13, &w.Allocated
		case "used":
			bit, whole = 1<<14, &w.Used
		case "nodes":
			bit = 1 << 15
		default: // attrs, an unknown member, another spelling of a known one
			return 0, false
		}
		if seen&bit != 0 {
			return 0, false
		}
		seen |= bit
		switch {
		case text != nil:
			a, b, ok := plainString(raw, i)
			if !ok {
				return 0, false
			}
			if w != &scratch {
				v := string(raw[a:b])
				*text = &v
			}
			i = b + 1
		case whole != nil:
			v, next, ok := plainInt(raw, i, 64)
			if !ok {
				return 0, false
			}
			if w != &scratch {
				*whole = &v
			}
			i = next
		default:
			v, next, ok := plainInt(raw, i, 32)
			if !ok {
				return 0, false
			}
			if w != &scratch {
				n := int32(v)
				w.Nodes = &n
			}
			i = next
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return 0, false
		}
		switch raw[i] {
		case '}':
			return i + 1, true
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return 0, false
		}
	}
}

// plainString finds the string starting at raw[i] when it has no escapes and no
// control characters (which JSON allows only escaped): its text is then
// raw[a:b], its bytes, as encoding/json would give them for valid UTF-8
// (DecodeRecord checks that before). raw[b] is its closing quote.
func plainString(raw []byte, i int) (a, b int, ok bool) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return i + 1, j, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// plainInt reads the number starting at raw[i] when it is a whole number in
// JSON's form (no leading zeros, fraction or exponent) that fits bits.
func plainInt(raw []byte, i, bits int) (int64, int, bool) {
	j := i
	if j < len(raw) && raw[j] == '-' {
		j++
	}
	digits := j
	for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
		j++
	}
	switch {
	case j == digits, raw[digits] == '0' && j-digits > 1:
		return 0, 0, false
	case j < len(raw) && (raw[j] == '.' || raw[j] == 'e' || raw[j] == 'E'):
		return 0, 0, false
	}
	v, err := strconv.ParseInt(string(raw[i:j]), 10, bits)
	if err != nil {
		return 0, 0, false
	}
	return v, j, true
}
