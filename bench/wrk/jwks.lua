-- GET /.well-known/jwks.json, the published key set (no data file).
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

function init(args)
   request = common.cycle({ wrk.format("GET", "/.well-known/jwks.json", common.json_headers()) })
end
