-- The bare-Flask baseline: GET /ping, a small JSON body.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

function init(args)
   request = common.cycle({ wrk.format("GET", "/ping", common.json_headers()) })
end
