# liblognorm rulebase for clawos-monitor's CEF records (docs/monitor.md):
# the MSG of each RFC 5424 message, parsed into cef.DeviceVendor, ...,
# cef.Severity and cef.Extensions.<key>, each value unescaped.
#   lognormalizer -r clawos-cef.rb -e json < records
#   rsyslog: action(type="mmnormalize" ruleBase="/path/to/clawos-cef.rb")
rule=:%cef:cef%
