package config

import "strings"

// currencyMinorDigits maps each current ISO 4217 currency code to its number
// of minor-unit digits. It is kept here rather than taken from
// golang.org/x/text/currency because that package follows CLDR display
// rounding (IDR with 0 digits, for one) and accepts withdrawn codes, while an
// invoice must follow ISO 4217. Codes without a minor unit (gold, SDR, test
// codes) are left out: nobody is billed in them.
var currencyMinorDigits = func() map[string]int {
	byDigits := map[int]string{
		0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
		2: "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB " +
			"BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP " +
			"CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ " +
			"GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK " +
			"LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV " +
			"MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD " +
			"RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB " +
			"TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG " +
			"YER ZAR ZMW ZWG",
		3: "BHD IQD JOD KWD LYD OMR TND",
		4: "CLF UYW",
	}
	m := make(map[string]int)
	for digits, codes := range byDigits {
		for _, code := range strings.Fields(codes) {
			m[code] = digits
		}
	}
	return m
}()
