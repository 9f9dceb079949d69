package report

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestParseTime(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-10-25", time.Date(2026, 10, 25, 0, 0, 0, 0, berlin), true},
		{"2026-10-25T09:00:00Z", time.Date(2026, 10, 25, 9, 0, 0, 0, time.UTC), true},
		{"2026-10-25T09:00:00+02:00", time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC), true},
		{"25.10.2026", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, berlin)
		if (err == nil) != tt.ok || (tt.ok && !got.Equal(tt.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseBy(t *testing.T) {
	if by, err := ParseBy("group, user,cluster"); err != nil || strings.Join(by, "|") != "group|user|cluster" {
		t.Errorf("ParseBy: %v %v", by, err)
	}
	for _, bad := range []string{"colour", "group,group", "group,"} {
		if _, err := ParseBy(bad); err == nil {
			t.Errorf("ParseBy(%q) accepted", bad)
		}
	}
}

func rows() []ledger.ReportRow {
	return []ledger.ReportRow{
		{Keys: []string{"lab-a", "ann"}, Resource: "cpu", Unit: "core-seconds", Quantity: big.NewInt(7_200_000), Allocated: big.NewInt(7_200_000), Used: big.NewInt(3_600_000)},
		{Keys: []string{"lab-a", "ann"}, Resource: "storage", Unit: "byte-seconds", Quantity: big.NewInt(2_592_000_000_000_000_000), Allocated: big.NewInt(0), Used: big.NewInt(0)},
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, []string{"group", "resource", "user"}, rows()); err != nil {
		t.Fatal(err)
	}
	want := "group,user,resource,unit,quantity,allocated,used\n" +
		"lab-a,ann,cpu,core-seconds,7200000,7200000,3600000\n" +
		"lab-a,ann,storage,byte-seconds,2592000000000000000,0,0\n"
	if b.String() != want {
		t.Errorf("csv:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteCSVNeutralisesFormulas: group, user and cluster names a spreadsheet
// would run as formulas come out with a quote in front; quantities, a negative
// one among them, stay numbers.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	var b bytes.Buffer
	rs := []ledger.ReportRow{{Keys: []string{"=HYPERLINK(\"http://evil\")", "@ann", "-2+3+cmd|' /C calc'!A0", "\tnormal"},
		Resource: "cpu", Unit: "core-seconds", Quantity: big.NewInt(-3600), Allocated: big.NewInt(7200), Used: big.NewInt(3600)}}
	if err := WriteCSV(&b, []string{"group", "user", "cluster", "partition"}, rs); err != nil {
		t.Fatal(err)
	}
	want := "group,user,cluster,partition,resource,unit,quantity,allocated,used\n" +
		"\"'=HYPERLINK(\"\"http://evil\"\")\",'@ann,'-2+3+cmd|' /C calc'!A0,'\tnormal,cpu,core-seconds,-3600,7200,3600\n"
	if b.String() != want {
		t.Errorf("csv:\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, []string{"group", "user"}, rows()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"2,000.00", "core-hours", "50.0%", "1.00", "TB-months"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteTable(&b, nil, nil)
	if !strings.Contains(b.String(), "no usage") {
		t.Errorf("empty table: %q", b.String())
	}
}
