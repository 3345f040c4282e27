# The ledger host, built from source. Used by docker-compose.yml.
# The console's scripts are bundled from npm packages first.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY . .
RUN cd src/GovernanceLedger/WebConsole/client && npm ci --no-audit --no-fund && node build.mjs

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY --from=assets /src .
RUN dotnet publish src/GovernanceLedger/GovernanceLedger.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_URLS=http://+:8080
EXPOSE 8080
ENTRYPOINT ["dotnet", "GovernanceLedger.dll"]
