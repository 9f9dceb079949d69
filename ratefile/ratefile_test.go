package ratefile

import (
	"strings"
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		rates int
		errs  []string // substrings of the error, in any order
	}{
		{"minimal", "resource,price,valid_from\ncpu,0.0125,2026-10-01\n", 1, nil},
		{"columns in any order, BOM, blanks", "\ufeffgroup, valid_from ,price,resource,qos\n,2026-10-01,1,gpu,\nlab,2026-10-01,0.5,gpu,scavenger\n\n", 2, nil},
		{"missing column", "resource,valid_from\ncpu,2026-10-01\n", 0, []string{`the column "price" is required`}},
		{"unknown column", "resource,price,valid_from,colour\n", 0, []string{`unknown column "colour"`}},
		{"every problem with its line", "resource,price,valid_from,valid_to\ncpu,-1,2026-10-01,\ndisk,x,2026-10-32,\ncpu,1,2026-10-01,2026-09-01\n", 0,
			[]string{"line 2: price: -1 must not be negative", `line 3: unknown resource "disk"`, `line 3: price: "x" is not a plain decimal number`,
				"line 3: valid_from", "line 4: valid_to must be after valid_from"}},
		{"bad quoting", "resource,price,valid_from\n\"cpu,1,2026-10-01\n", 0, []string{"extraneous or missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := ReadCSV(strings.NewReader(tt.in))
			if len(tt.errs) == 0 {
				if err != nil || len(list.Rates) != tt.rates {
					t.Fatalf("%d rates, %v; want %d", len(list.Rates), err, tt.rates)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, e := range tt.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not say %q", err, e)
				}
			}
		})
	}
}

func TestReadTOML(t *testing.T) {
	list, err := ReadTOML(strings.NewReader(`
[[rate]]
resource = "cpu"
price = 0.1
valid_from = 2026-10-01
[[rate]]
resource = "memory"
price = "0.000123456789"
valid_from = "2026-10-01"
valid_to = 2027-01-01
group = "chem"
[[subsidy]]
group = "uni"
resource = "gpu"
free = 12.5
discount_percent = 10
valid_from = 2026-10-01
[[budget]]
group = "lab"
span = "fiscal_year"
resource = "gpu"
amount = 5000
valid_from = 2026-10-01
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Rates) != 2 || list.Rates[0].Rate.Price.FloatString(1) != "0.1" || list.Rates[1].Rate.Price.FloatString(12) != "0.000123456789" ||
		list.Rates[1].GroupSlug != "chem" {
		t.Errorf("rates %+v", list.Rates)
	}
	if len(list.Subsidies) != 1 || list.Subsidies[0].Subsidy.FreeQuantity.Int64() != 45000 {
		t.Errorf("subsidy: 12.5 GPU-hours should be 45,000 GPU-seconds: %+v", list.Subsidies)
	}
	if len(list.Budgets) != 1 || list.Budgets[0].Budget.Span != "fiscal_year" {
		t.Errorf("budgets %+v", list.Budgets)
	}

	bad := []struct{ in, want string }{
		{"[[rate]]\nresource = \"cpu\"\nprice = 1\n", "rate 1: valid_from"},
		{"[[rate]]\nresource = \"cpu\"\nprice = 1\nvalid_from = 2026-10-01\ncolour = \"red\"\n", "unknown field"},
		{"[[subsidy]]\ngroup = \"x\"\nresource = \"*\"\nfree = 10\nvalid_from = 2026-10-01\n", "free needs a resource"},
		{"[[subsidy]]\ngroup = \"x\"\nresource = \"cpu\"\ndiscount_percent = 120\nvalid_from = 2026-10-15\n", "first day of a month"},
		{"[[budget]]\ngroup = \"x\"\nspan = \"week\"\namount = 1\nvalid_from = 2026-10-01\n", `span must be "month" or "fiscal_year"`},
		{"[[rate]\n", "line 1"},
	}
	for _, b := range bad {
		if _, err := ReadTOML(strings.NewReader(b.in)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want %q", b.in, err, b.want)
		}
	}
}

// The parsers meet any input with a list or an error, never a panic, and what they
// accept is a valid rate.
func FuzzReadCSV(f *testing.F) {
	f.Add("resource,price,valid_from\ncpu,0.0125,2026-10-01\n")
	f.Add("resource,price,valid_from,valid_to,cluster,partition,qos,group,note\ngpu,1e-3,2026-01-01,2027-01-01,c,p,q,g,\"a, note\"\n")
	f.Add("resource,price,valid_from\ncpu,1/3,2026-10-01\n")
	f.Fuzz(func(t *testing.T, in string) {
		list, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range list.Rates {
			if r.Rate.Price == nil || r.Rate.Price.Sign() < 0 || r.Rate.ValidFrom.IsZero() {
				t.Fatalf("accepted an invalid rate %+v from %q", r, in)
			}
			if err := ledger.CheckPrice(r.Rate.Price); err != nil {
				t.Fatalf("accepted a price beyond the limits from %q: %v", in, err)
			}
		}
	})
}

func FuzzReadTOML(f *testing.F) {
	f.Add("[[rate]]\nresource = \"cpu\"\nprice = 0.1\nvalid_from = 2026-10-01\n")
	f.Add("[[subsidy]]\ngroup = \"u\"\nresource = \"gpu\"\nfree = 1.5\nvalid_from = 2026-10-01\n[[budget]]\ngroup = \"l\"\nspan = \"month\"\namount = \"12\"\nvalid_from = 2026-10-01\n")
	f.Fuzz(func(t *testing.T, in string) {
		list, err := ReadTOML(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range list.Rates {
			if r.Rate.Price == nil || r.Rate.Price.Sign() < 0 {
				t.Fatalf("accepted an invalid rate %+v from %q", r, in)
			}
		}
		for _, b := range list.Budgets {
			if b.Budget.Amount == nil || b.Budget.Amount.Sign() < 0 {
				t.Fatalf("accepted an invalid budget %+v from %q", b, in)
			}
		}
	})
}
