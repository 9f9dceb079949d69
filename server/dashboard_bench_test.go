package server

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// BenchmarkBuildDashboard is the view model of an institution-sized group from
// the summaries: 400 people, 40 subgroups, 30 days by resource and cluster. The
// builder runs on every page view (the summaries are cached, the model is not).
func BenchmarkBuildDashboard(b *testing.B) {
	d := spendData()
	r := rand.New(rand.NewPCG(1, 2))
	d.Spend = ledger.Spend{}
	d.Users, d.Children = map[int64]ledger.User{}, map[int64]ledger.Group{}
	for i := range 400 {
		id := int64(100 + i)
		d.Users[id] = ledger.User{ID: id, Login: fmt.Sprintf("u%03d", i), DisplayName: fmt.Sprintf("Person %d", i)}
		d.Spend.ByUser = append(d.Spend.ByUser, ledger.SpendRow{UserID: id, Amount: r.ExpFloat64() * 300})
	}
	for i := range 40 {
		id := int64(1000 + i)
		d.Children[id] = ledger.Group{ID: id, Slug: fmt.Sprintf("lab-%d", i), Name: fmt.Sprintf("Lab %d", i)}
		d.Spend.BySubgroup = append(d.Spend.BySubgroup, ledger.SpendRow{GroupID: id, Amount: r.ExpFloat64() * 3000})
	}
	for _, res := range []string{"cpu", "gpu", "memory", "storage"} {
		d.Spend.ByResource = append(d.Spend.ByResource, ledger.SpendRow{Resource: res, Amount: r.ExpFloat64() * 30000, Quantity: 1e6})
	}
	for _, c := range []string{"hpc", "gpu", "jhub"} {
		d.Spend.ByCluster = append(d.Spend.ByCluster, ledger.SpendRow{Key: c, Amount: r.ExpFloat64() * 30000})
		for _, p := range []string{"cpu", "gpu", "long", "scavenger"} {
			d.Spend.ByPart = append(d.Spend.ByPart, ledger.SpendRow{Key: c + "/" + p, Amount: r.ExpFloat64() * 8000})
		}
	}
	for day := d.Win.From; day.Before(d.Win.To); day = day.AddDate(0, 0, 1) {
		for _, res := range []string{"cpu", "gpu", "memory", "storage"} {
			d.Spend.ByDay = append(d.Spend.ByDay, ledger.SpendRow{Key: day.Format("2006-01-02"), Resource: res, Amount: r.ExpFloat64() * 1000})
		}
	}
	// Every breakdown adds up to the same total, as the summaries' do.
	var total float64
	for _, x := range d.Spend.ByResource {
		total += x.Amount
	}
	for _, rows := range [][]ledger.SpendRow{d.Spend.ByUser, d.Spend.BySubgroup, d.Spend.ByCluster, d.Spend.ByPart} {
		var sum float64
		for _, x := range rows {
			sum += x.Amount
		}
		for i := range rows {
			rows[i].Amount *= total / sum
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		buildDashboard(d)
	}
}
