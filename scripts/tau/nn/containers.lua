-- Containers: Sequential and ModuleList.
local module = require "tau.nn.module"
local raise = require("tau.util").raise
local Module, is_module = module.Module, module.is_module

local nn = {}

-- Sequential{m1, m2, ...}: children named "1", "2", ...; seq[i], #seq, seq:add(m).
local Sequential = Module:extend("Sequential")
nn.Sequential = Sequential

function Sequential:init(list, ...)
  if is_module(list) then list = {list, ...} end
  list = list or {}
  for i, m in ipairs(list) do
    if not is_module(m) then raise("tau.nn.Sequential: element " .. i .. " is not a module (" .. type(m) .. ")") end
    self:add(m)
  end
end

function Sequential:add(m)
  if not is_module(m) then raise("Sequential:add: expected a module, got " .. type(m)) end
  self:add_module(tostring(#self._modules.names + 1), m)
  return self
end

function Sequential:forward(x)
  local items, names = self._modules.items, self._modules.names
  for i = 1, #names do x = items[names[i]]:forward(x) end
  return x
end

Sequential.__len = function(self) return #self._modules.names end
do
  local base_index = Sequential.__index
  Sequential.__index = function(self, k)
    if math.type(k) == "integer" then
      local names = rawget(self, "_modules").names
      if k < 0 then k = #names + k + 1 end
      return rawget(self, "_modules").items[names[k]]
    end
    return base_index(self, k)
  end
end

-- Subclasses of Sequential keep integer indexing and #.
function Sequential:extend(name, methods)
  local cls = Module.extend(self, name, methods)
  local base_index = cls.__index
  cls.__index = function(s, k)
    if math.type(k) == "integer" then return Sequential.__index(s, k) end
    return base_index(s, k)
  end
  cls.__len = Sequential.__len
  return cls
end

-- ModuleList{...}: children named "1", "2", ... with no forward of its own.
local ModuleList = Sequential:extend("ModuleList")
nn.ModuleList = ModuleList
function ModuleList:forward() raise("ModuleList: has no forward; call its elements") end

return nn
