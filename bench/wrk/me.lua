-- GET /api/v1/users/me with the access tokens of many sessions (one per line).
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

function init(args)
   local requests = {}
   for _, token in ipairs(common.read_lines(args[1], id, tonumber(args[2]))) do
      local headers = common.json_headers({ ["Authorization"] = "Bearer " .. token })
      requests[#requests + 1] = wrk.format("GET", "/api/v1/users/me", headers)
   end
   request = common.cycle(requests)
end
