package usagebatch

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// schemaFile is the JSON Schema published for people and other languages.
const schemaFile = "../docs/usage-batch.schema.json"

type property struct {
	Type          string `json:"type"`
	Enum          []string
	MinLength     *int `json:"minLength"`
	MaxLength     *int `json:"maxLength"`
	Minimum       *int64
	Maximum       *int64
	MaxProperties *int `json:"maxProperties"`
	PropertyNames *struct {
		MaxLength int `json:"maxLength"`
	} `json:"propertyNames"`
	AdditionalProperties any `json:"additionalProperties"`
}

type schema struct {
	Required             []string
	AdditionalProperties bool `json:"additionalProperties"`
	Properties           map[string]struct {
		MaxItems int `json:"maxItems"`
	}
	Defs struct {
		Record struct {
			Required             []string
			AdditionalProperties bool `json:"additionalProperties"`
			Properties           map[string]property
		} `json:"record"`
	} `json:"$defs"`
}

func loadSchema(t *testing.T) schema {
	t.Helper()
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	return s
}

// jsonNames are the members a struct type encodes and decodes.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// The schema and the Go types name the same members, require the same ones, and
// refuse others; the envelope too.
func TestSchemaNamesAgree(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	rec := s.Defs.Record
	var schemaNames []string
	for k := range rec.Properties {
		schemaNames = append(schemaNames, k)
	}
	slices.Sort(schemaNames)
	if got := jsonNames(reflect.TypeFor[Record]()); !slices.Equal(got, schemaNames) {
		t.Errorf("Record has members %v, the schema %v", got, schemaNames)
	}
	if got := jsonNames(reflect.TypeFor[wire]()); !slices.Equal(got, schemaNames) {
		t.Errorf("the decoder reads members %v, the schema has %v", got, schemaNames)
	}
	req := slices.Clone(rec.Required)
	slices.Sort(req)
	want := slices.Clone(Required)
	slices.Sort(want)
	if !slices.Equal(req, want) {
		t.Errorf("schema requires %v, Go %v", req, want)
	}
	if rec.AdditionalProperties || s.AdditionalProperties {
		t.Error("the schema allows unknown members; the decoder refuses them")
	}
	if !slices.Equal(s.Required, []string{"records"}) || len(s.Properties) != 1 || s.Properties["records"].MaxItems != MaxRecords {
		t.Errorf("envelope: required %v, properties %v, want records with maxItems %d", s.Required, s.Properties, MaxRecords)
	}
	if got := jsonNames(reflect.TypeFor[Batch]()); !slices.Equal(got, []string{"records"}) {
		t.Errorf("Batch has members %v", got)
	}
}

// Every constraint of the schema holds in the decoder, checked by behaviour: each
// required member missing is refused, each optional one missing is not; each
// enum's values are accepted and others refused; each string at its maxLength is
// accepted and one byte over refused; each integer at its minimum accepted and
// one under refused; an unknown member refused.
func TestSchemaConstraintsHold(t *testing.T) {
	t.Parallel()
	rec := loadSchema(t).Defs.Record
	decode := func(m map[string]any) error {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeRecord(b)
		return err
	}
	if err := decode(valid()); err != nil {
		t.Fatalf("the valid record is refused: %v", err)
	}
	for name, p := range rec.Properties {
		m := valid()
		delete(m, name)
		err := decode(m)
		if required := slices.Contains(rec.Required, name); required != (err != nil) {
			t.Errorf("%s missing: required by the schema %v, refused by the decoder: %v", name, required, err)
		}
		try := func(v any) error {
			m := valid()
			m[name] = v
			if name == "start" || name == "end" {
				m["start"], m["end"] = v, v
			}
			return decode(m)
		}
		for _, v := range p.Enum {
			if err := try(v); err != nil {
				t.Errorf("%s %q is in the schema's enum but refused: %v", name, v, err)
			}
		}
		if len(p.Enum) > 0 {
			if err := try(p.Enum[0] + "x"); err == nil {
				t.Errorf("%s %q is outside the schema's enum but accepted", name, p.Enum[0]+"x")
			}
		}
		if p.MaxLength != nil {
			if err := try(strings.Repeat("a", *p.MaxLength)); err != nil {
				t.Errorf("%s of maxLength %d refused: %v", name, *p.MaxLength, err)
			}
			if err := try(strings.Repeat("a", *p.MaxLength+1)); err == nil {
				t.Errorf("%s over maxLength %d accepted", name, *p.MaxLength)
			}
		}
		if p.MinLength != nil && *p.MinLength > 0 {
			if err := try(""); err == nil {
				t.Errorf("%s empty accepted, schema minLength %d", name, *p.MinLength)
			}
		}
		if p.Type == "integer" {
			if err := try(*p.Minimum); err != nil {
				t.Errorf("%s at minimum %d refused: %v", name, *p.Minimum, err)
			}
			if err := try(*p.Minimum - 1); err == nil {
				t.Errorf("%s under minimum %d accepted", name, *p.Minimum)
			}
			if err := try(*p.Maximum); err != nil {
				t.Errorf("%s at maximum %d refused: %v", name, *p.Maximum, err)
			}
			if err := try(1.5); err == nil {
				t.Errorf("%s 1.5 accepted as an integer", name)
			}
			if err := try("1"); err == nil {
				t.Errorf("%s \"1\" accepted as an integer", name)
			}
		}
		if p.Type == "string" {
			if err := try(1); err == nil {
				t.Errorf("%s as a number accepted", name)
			}
		}
		if p.MaxProperties != nil {
			if err := try(manyAttrs(*p.MaxProperties)); err != nil {
				t.Errorf("%s with %d members refused: %v", name, *p.MaxProperties, err)
			}
			if err := try(manyAttrs(*p.MaxProperties + 1)); err == nil {
				t.Errorf("%s over maxProperties accepted", name)
			}
			long := strings.Repeat("k", p.PropertyNames.MaxLength)
			if err := try(map[string]string{long: "v"}); err != nil {
				t.Errorf("%s name of %d bytes refused: %v", name, len(long), err)
			}
			if err := try(map[string]string{long + "k": "v"}); err == nil {
				t.Errorf("%s name over %d bytes accepted", name, len(long))
			}
			vmax := int(p.AdditionalProperties.(map[string]any)["maxLength"].(float64))
			if err := try(map[string]string{"k": strings.Repeat("v", vmax+1)}); err == nil {
				t.Errorf("%s value over %d bytes accepted", name, vmax)
			}
		}
	}
	m := valid()
	m["extra"] = "x"
	if decode(m) == nil {
		t.Error("an unknown member is accepted")
	}
}
