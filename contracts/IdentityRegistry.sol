// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IdentityRegistry: ERC-8004 agent identities, written for Anima from the ERC.
/// @notice Each agent is a token id owned by an address, pointing at its registration
/// file (agent card) by URI, with that file's keccak256 on chain so a reader can check
/// what it fetched. Storage is laid out for proven reads (the verifying chain client
/// reads slots, not calls): owners at slot 0, URIs at slot 1, registration hashes at
/// slot 2, metadata at slot 3, the next id at slot 4. Transfers follow ERC-721's
/// ownerOf/transferFrom; approvals and safe transfers are left out (not needed here).
contract IdentityRegistry {
    mapping(uint256 => address) public ownerOf; // slot 0
    mapping(uint256 => string) private _uris; // slot 1
    mapping(uint256 => bytes32) public registrationHash; // slot 2
    mapping(uint256 => mapping(string => bytes)) private _metadata; // slot 3
    uint256 public nextAgentId = 1; // slot 4: id 0 means "none"
    mapping(address => uint256) public balanceOf; // slot 5

    event Registered(uint256 indexed agentId, string tokenURI, address indexed owner);
    event UriUpdated(uint256 indexed agentId, string newUri, bytes32 registrationHash, address indexed updatedBy);
    event MetadataSet(uint256 indexed agentId, string indexed indexedKey, string key, bytes value);
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    function register(string calldata uri, bytes32 fileHash) external returns (uint256 agentId) {
        agentId = nextAgentId++;
        ownerOf[agentId] = msg.sender;
        balanceOf[msg.sender] += 1;
        _uris[agentId] = uri;
        registrationHash[agentId] = fileHash;
        emit Transfer(address(0), msg.sender, agentId);
        emit Registered(agentId, uri, msg.sender);
    }

    function setAgentUri(uint256 agentId, string calldata uri, bytes32 fileHash) external {
        require(ownerOf[agentId] == msg.sender, "not the agent's owner");
        _uris[agentId] = uri;
        registrationHash[agentId] = fileHash;
        emit UriUpdated(agentId, uri, fileHash, msg.sender);
    }

    function setMetadata(uint256 agentId, string calldata key, bytes calldata value) external {
        require(ownerOf[agentId] == msg.sender, "not the agent's owner");
        _metadata[agentId][key] = value;
        emit MetadataSet(agentId, key, key, value);
    }

    function getMetadata(uint256 agentId, string calldata key) external view returns (bytes memory) {
        return _metadata[agentId][key];
    }

    function tokenURI(uint256 agentId) external view returns (string memory) {
        require(ownerOf[agentId] != address(0), "no such agent");
        return _uris[agentId];
    }

    function transferFrom(address from, address to, uint256 agentId) external {
        require(ownerOf[agentId] == from && from == msg.sender, "not the agent's owner");
        require(to != address(0), "to zero");
        ownerOf[agentId] = to;
        balanceOf[from] -= 1;
        balanceOf[to] += 1;
        emit Transfer(from, to, agentId);
    }
}
